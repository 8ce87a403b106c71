//! SQL of packages: `packages` (a version's default package), `package_arches` (its
//! packages for named architectures) and `package_files` (their extra files).

/// The `Store` methods of packages, their architectures' packages and extra files.
macro_rules! packages_sql {
    ($store:ty, $db:ty, [$($methods:tt)*], $rest:tt) => {
        super::common::store_part! { $store, $db, [$($methods)*
        async fn put_package(&self, package: &PackageRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let size = i64::try_from(package.size).map_err(|_| {
                StoreError::Corrupt(format!("package size {} out of range", package.size))
            })?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO packages (app_id, version, url, size, sha1, sha256, metadata_size, \
                 metadata_signature_rsa, signature, release_notes, required, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (app_id, version) DO UPDATE SET url = excluded.url, \
                 size = excluded.size, sha1 = excluded.sha1, sha256 = excluded.sha256, \
                 metadata_size = excluded.metadata_size, \
                 metadata_signature_rsa = excluded.metadata_signature_rsa, \
                 signature = excluded.signature, release_notes = excluded.release_notes, \
                 required = excluded.required",
            )
            .bind(&package.app_id)
            .bind(&package.version)
            .bind(&package.url)
            .bind(size)
            .bind(&package.sha1)
            .bind(&package.sha256)
            .bind(&package.metadata_size)
            .bind(&package.metadata_signature_rsa)
            .bind(&package.signature)
            .bind(&package.release_notes)
            .bind(package.required)
            .bind(package.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("package {} of app {}", package.version, package.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_package(&self, app_id: &str, version: &str) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM packages WHERE app_id = $1 AND version = $2",
                [app_id, version],
                format!("package {version} of app {app_id}")
            )
        }

        async fn put_arch_package(&self, record: &ArchPackageRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let package = &record.package;
            let size = i64::try_from(package.size).map_err(|_| {
                StoreError::Corrupt(format!("package size {} out of range", package.size))
            })?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO package_arches (app_id, version, arch, url, size, sha1, sha256, \
                 metadata_size, metadata_signature_rsa, signature, release_notes, required, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (app_id, version, arch) DO UPDATE SET url = excluded.url, \
                 size = excluded.size, sha1 = excluded.sha1, sha256 = excluded.sha256, \
                 metadata_size = excluded.metadata_size, \
                 metadata_signature_rsa = excluded.metadata_signature_rsa, \
                 signature = excluded.signature, release_notes = excluded.release_notes, \
                 required = excluded.required",
            )
            .bind(&package.app_id)
            .bind(&package.version)
            .bind(&record.arch)
            .bind(&package.url)
            .bind(size)
            .bind(&package.sha1)
            .bind(&package.sha256)
            .bind(&package.metadata_size)
            .bind(&package.metadata_signature_rsa)
            .bind(&package.signature)
            .bind(&package.release_notes)
            .bind(package.required)
            .bind(package.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!(
                        "{} package {} of app {}",
                        record.arch, package.version, package.app_id
                    )
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_arch_package(
            &self,
            app_id: &str,
            version: &str,
            arch: &str,
        ) -> Result<(), StoreError> {
            use super::common::backend;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "DELETE FROM package_files WHERE app_id = $1 AND version = $2 AND arch = $3",
            )
            .bind(app_id)
            .bind(version)
            .bind(arch)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            let done = sqlx::query(
                "DELETE FROM package_arches WHERE app_id = $1 AND version = $2 AND arch = $3",
            )
            .bind(app_id)
            .bind(version)
            .bind(arch)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!(
                    "{arch} package {version} of app {app_id}"
                )));
            }
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn put_package_file(&self, file: &PackageFileRecord) -> Result<(), StoreError> {
            use super::common::{backend, db_err};
            let size = i64::try_from(file.size).map_err(|_| {
                StoreError::Corrupt(format!("file size {} out of range", file.size))
            })?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            sqlx::query(
                "INSERT INTO package_files (app_id, version, arch, name, size, sha1, sha256, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (app_id, version, arch, name) DO UPDATE SET size = excluded.size, \
                 sha1 = excluded.sha1, sha256 = excluded.sha256",
            )
            .bind(&file.app_id)
            .bind(&file.version)
            .bind(&file.arch)
            .bind(&file.name)
            .bind(size)
            .bind(&file.sha1)
            .bind(&file.sha256)
            .bind(file.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                db_err(e, || {
                    format!("file {} of package {} of app {}", file.name, file.version, file.app_id)
                })
            })?;
            super::common::bump_generation!(tx);
            tx.commit().await.map_err(backend)
        }

        async fn delete_package_file(
            &self,
            app_id: &str,
            version: &str,
            arch: &str,
            name: &str,
        ) -> Result<(), StoreError> {
            super::common::delete_config_row!(
                self,
                "DELETE FROM package_files WHERE app_id = $1 AND version = $2 AND arch = $3 AND name = $4",
                [app_id, version, arch, name],
                format!("file {name} of package {version} of app {app_id}")
            )
        }
        ], $rest }
    };
}
pub(super) use packages_sql;
