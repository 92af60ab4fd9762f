//! Small helpers the coordination recipes (queue, barrier, config, naming, DNS, monitoring,
//! log collection) share.

use crate::client::{ZkClient, ZkError};
use zksim_model::{CreateMode, Data, ErrorCode};

/// Creates `path` and its missing ancestors as persistent nodes (empty data); existing nodes
/// are fine. Retries over ConnectionLoss; fails only when the session is over (or on a definite
/// error other than NodeExists).
pub async fn ensure_path(zk: &ZkClient, path: &str) -> Result<(), ZkError> {
    let mut at = 0;
    while let Some(off) = path[at + 1..].find('/').map(|i| i + at + 1).or((at < path.len()).then_some(path.len())) {
        let prefix = &path[..off];
        loop {
            match zk.create(prefix, Data::null(), CreateMode::Persistent).await {
                Ok(_) | Err(ZkError::Api(ErrorCode::NodeExists)) => break,
                Err(ZkError::ConnectionLoss) => madsim::time::sleep(std::time::Duration::from_millis(20)).await,
                Err(e) => return Err(e),
            }
        }
        at = off;
        if off == path.len() {
            break;
        }
    }
    Ok(())
}

/// Retries `f` over ConnectionLoss (with a short pause) until a definite answer or the end of
/// the session. Only for reads and idempotent writes.
pub async fn retry<T, F, Fut>(mut f: F) -> Result<T, ZkError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ZkError>>,
{
    loop {
        match f().await {
            Err(ZkError::ConnectionLoss) => madsim::time::sleep(std::time::Duration::from_millis(20)).await,
            r => return r,
        }
    }
}
