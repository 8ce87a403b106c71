//! The configuration as a whole: its generation counter and the consistent snapshot the cache
//! loads (apps, channels with their floors and blacklists, groups, packages of every
//! architecture with their files).

/// The `Store` methods of the configuration snapshot.
macro_rules! config_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
        async fn config_generation(&self) -> Result<i64, StoreError> {
            sqlx::query_scalar("SELECT generation FROM config_generation WHERE id = 1")
                .fetch_one(&self.pool)
                .await
                .map_err(super::common::backend)
        }

        async fn load_config(&self) -> Result<ConfigSnapshot, StoreError> {
            use super::common::backend;
            // One transaction, so the snapshot is consistent with its generation.
            let mut tx = self.pool.begin().await.map_err(backend)?;
            let generation: i64 =
                sqlx::query_scalar("SELECT generation FROM config_generation WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
            let apps = sqlx::query("SELECT * FROM apps ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(AppRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let channels = sqlx::query("SELECT * FROM channels ORDER BY app_id, name")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(ChannelRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let groups = sqlx::query("SELECT * FROM groups ORDER BY app_id, id")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(GroupRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let packages = sqlx::query("SELECT * FROM packages ORDER BY app_id, version")
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?
                .iter()
                .map(PackageRecord::from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let arch_packages =
                sqlx::query("SELECT * FROM package_arches ORDER BY app_id, version, arch")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?
                    .iter()
                    .map(ArchPackageRecord::from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
            let package_files = sqlx::query(
                "SELECT * FROM package_files ORDER BY app_id, version, arch, name",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(PackageFileRecord::from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
            let floors = sqlx::query(
                "SELECT * FROM channel_floors ORDER BY app_id, channel, arch, version",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(FloorRecord::from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
            let blacklist =
                sqlx::query("SELECT * FROM channel_blacklist ORDER BY app_id, channel, version")
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(backend)?
                    .iter()
                    .map(BlacklistRecord::from_row)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(backend)?;
            tx.commit().await.map_err(backend)?;
            Ok(ConfigSnapshot {
                generation,
                apps,
                channels,
                groups,
                packages,
                arch_packages,
                package_files,
                floors,
                blacklist,
            })
        }
        ], $rest }
    };
}
pub(super) use config_sql;
