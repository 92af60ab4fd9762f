//! multi: one transaction, one zxid; later ops see earlier ones; all or nothing.

use super::write::TxnCtx;
use crate::op::{MultiOp, MultiSubResult, OpResult, Outcome};
use crate::types::{CreateMode, ErrorCode};

/// Runs `ops` in `ctx`. On failure everything is rolled back and the outcome lists `Ok` for the
/// ops before the failing one, its error, then `RuntimeInconsistency` for the rest.
pub fn run(ctx: &mut TxnCtx<'_>, ops: &[MultiOp]) -> Outcome {
    let mut results = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let r = match op {
            MultiOp::Create { path, data, mode, acl } => ctx.create(path, data, *mode, acl).map(|(path, stat)| {
                // Plain creates inside a multi are answered like opcode 1 (no stat); container
                // and TTL creates carry their stat.
                let with_stat = matches!(
                    mode,
                    CreateMode::Container
                        | CreateMode::PersistentWithTtl { .. }
                        | CreateMode::PersistentSequentialWithTtl { .. }
                );
                MultiSubResult::Created { path, stat: with_stat.then_some(stat) }
            }),
            MultiOp::Delete { path, version } => ctx.delete(path, *version).map(|()| MultiSubResult::Deleted),
            MultiOp::SetData { path, data, version } => {
                ctx.set_data(path, data, *version).map(|stat| MultiSubResult::SetData { stat })
            }
            MultiOp::Check { path, version } => ctx.check(path, *version).map(|()| MultiSubResult::Checked),
            // Callers refuse such a multi whole before it gets here (it is no transaction).
            MultiOp::GetData { .. } | MultiOp::GetChildren { .. } => Err(ErrorCode::MarshallingError),
        };
        match r {
            Ok(sub) => results.push(sub),
            Err(code) => {
                ctx.rollback();
                let mut codes = vec![ErrorCode::Ok; i];
                codes.push(code);
                codes.resize(ops.len(), ErrorCode::RuntimeInconsistency);
                return Outcome::MultiErr { code, results: codes };
            }
        }
    }
    Outcome::Ok { value: OpResult::Multi { results } }
}
