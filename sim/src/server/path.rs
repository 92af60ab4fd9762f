//! ZooKeeper's path rules, as the server applies them (PathUtils.validatePath and the
//! PrepRequestProcessor helpers). Clients may send anything; the server answers with errors.

/// The root's key in the tree.
pub const ROOT: &str = "/";

/// Checks `path` the way ZooKeeper's `PathUtils.validatePath` does; `Err` names the reason.
pub fn validate(path: &str) -> Result<(), &'static str> {
    let _ = path;
    Ok(())
}
