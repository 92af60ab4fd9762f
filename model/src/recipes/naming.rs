//! Unique-ID naming property (recipe `naming:<path>`).
//!
//! - `naming-unique`: no id (sequence number) is handed to two allocations, and each client's
//!   ids strictly increase (sequence numbers are assigned in commit order).

use super::coord_log::{notes, rec_ref, report, sequence_of};
use crate::check::{PropertyReport, Violation};
use crate::history::{History, RecipeAction};
use crate::types::ClientId;
use std::collections::BTreeMap;

/// `naming-unique` for the ids allocated under `path`.
pub fn check(history: &History, path: &str) -> Vec<PropertyReport> {
    let ns = notes(history, &format!("naming:{path}"));
    let mut by_seq: BTreeMap<u64, usize> = BTreeMap::new();
    let mut last: BTreeMap<ClientId, (u64, usize)> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut checked = 0;
    for n in &ns {
        let RecipeAction::IdAllocated { id } = n.action else { continue };
        checked += 1;
        let Some(seq) = sequence_of(id) else {
            violations.push(Violation::new(format!("{} got id {id}, which has no sequence number", n.client)));
            continue;
        };
        if let Some(prev) = by_seq.insert(seq, n.rec) {
            violations.push(
                Violation::new(format!("id sequence {seq} was handed out twice (second time to {})", n.client))
                    .record(rec_ref(history, prev))
                    .record(rec_ref(history, n.rec))
                    .expected("every allocated id is unique"),
            );
        }
        if let Some((p, prec)) = last.get(&n.client) {
            if seq <= *p {
                violations.push(
                    Violation::new(format!("{} got id {seq} after id {p}", n.client))
                        .record(rec_ref(history, *prec))
                        .record(rec_ref(history, n.rec))
                        .expected("a client's ids increase"),
                );
            }
        }
        last.insert(n.client, (seq, n.rec));
    }
    vec![report("naming-unique", checked, violations, None)]
}
