//! SQL of a channel and what belongs to it: `channels`, `channel_floors`, `channel_blacklist`.

/// The `Store` methods of channels, their floors and blacklists.
macro_rules! channels_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
        async fn put_channel(&self, channel: &ChannelRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO channels (app_id, name, version, publish, upstream, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (app_id, name) DO UPDATE SET version = excluded.version, \
                 publish = excluded.publish, upstream = excluded.upstream",
            )
            .bind(&channel.app_id)
            .bind(&channel.name)
            .bind(&channel.version)
            .bind(channel.publish)
            .bind(&channel.upstream)
            .bind(channel.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || format!("channel {} of app {}", channel.name, channel.app_id))
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_channel(&self, app_id: &str, name: &str) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM channels WHERE app_id = $1 AND name = $2",
                [app_id, name],
                format!("channel {name} of app {app_id}")
            )
        }

        async fn put_floor(&self, floor: &FloorRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO channel_floors (app_id, channel, arch, version, reason, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (app_id, channel, arch, version) DO UPDATE SET reason = excluded.reason",
            )
            .bind(&floor.app_id)
            .bind(&floor.channel)
            .bind(&floor.arch)
            .bind(&floor.version)
            .bind(&floor.reason)
            .bind(floor.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("floor {} of channel {} of app {}", floor.version, floor.channel, floor.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_floor(
            &self,
            app_id: &str,
            channel: &str,
            arch: &str,
            version: &str,
        ) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM channel_floors WHERE app_id = $1 AND channel = $2 AND arch = $3 AND version = $4",
                [app_id, channel, arch, version],
                format!("floor {version} of channel {channel} of app {app_id}")
            )
        }

        async fn put_blacklisted(&self, entry: &BlacklistRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO channel_blacklist (app_id, channel, version, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, channel, version) DO NOTHING",
            )
            .bind(&entry.app_id)
            .bind(&entry.channel)
            .bind(&entry.version)
            .bind(entry.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("blacklisted {} of channel {} of app {}", entry.version, entry.channel, entry.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_blacklisted(
            &self,
            app_id: &str,
            channel: &str,
            version: &str,
        ) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM channel_blacklist WHERE app_id = $1 AND channel = $2 AND version = $3",
                [app_id, channel, version],
                format!("blacklisted {version} of channel {channel} of app {app_id}")
            )
        }
        ], $rest }
    };
}
pub(super) use channels_sql;
