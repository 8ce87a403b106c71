//! The state directory: `state.json` (the persisted [`State`]), written atomically
//! (temporary file, fsync, rename), and `download/`, where payloads are downloaded.

use std::path::{Path, PathBuf};

use crate::core::State;
use crate::error::Error;

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";
/// The download folder's name inside the state directory.
pub const DOWNLOAD_DIR: &str = "download";

/// Reads the state file; a missing file is the empty state.
pub(crate) fn load(dir: &Path) -> Result<State, Error> {
    let path = dir.join(STATE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::State {
            path,
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Writes the state file atomically.
pub(crate) async fn save(dir: &Path, state: &State) -> Result<(), Error> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| Error::State {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_synced(&tmp, &bytes).await?;
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| Error::io(&path, e))?;
    // Make the rename itself durable.
    if let Ok(dir_handle) = tokio::fs::File::open(dir).await {
        let _ = dir_handle.sync_all().await;
    }
    Ok(())
}

async fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use tokio::io::AsyncWriteExt as _;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::io(path, e))?;
    file.write_all(bytes)
        .await
        .map_err(|e| Error::io(path, e))?;
    file.sync_all().await.map_err(|e| Error::io(path, e))
}

/// The download folder, created if needed.
pub(crate) async fn download_dir(dir: &Path) -> Result<PathBuf, Error> {
    let path = dir.join(DOWNLOAD_DIR);
    tokio::fs::create_dir_all(&path)
        .await
        .map_err(|e| Error::io(&path, e))?;
    Ok(path)
}

/// Removes a file, ignoring one that is not there.
pub(crate) async fn remove(path: &Path) -> Result<(), Error> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
