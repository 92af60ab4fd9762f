//! Reads as borrowed views of the model's state. A checker compares a client's answer against
//! the view in place, instead of building the expected value (copying child names and data) only
//! to compare and drop it; [`ReadView::to_outcome`] builds the value when it is needed (to show
//! a mismatch, or for callers that want an `Outcome`).

use super::node::Children;
use crate::op::{OpResult, Outcome};
use crate::types::{Data, Stat};

/// What a read answers, borrowing from the model.
#[derive(Debug)]
pub enum ReadView<'a> {
    GetData {
        data: &'a Data,
        stat: Stat,
    },
    Children {
        children: &'a Children,
        stat: Stat,
    },
    /// Any other answer (exists, sync, watch ops, errors): small, so built outright.
    Owned(Outcome),
}

impl ReadView<'_> {
    /// The answer as a client receives it.
    pub fn to_outcome(&self) -> Outcome {
        match self {
            ReadView::GetData { data, stat } => {
                Outcome::Ok { value: OpResult::GetData { data: (*data).clone(), stat: *stat } }
            }
            ReadView::Children { children, stat } => {
                Outcome::Ok { value: OpResult::Children { children: children.names(), stat: *stat } }
            }
            ReadView::Owned(o) => o.clone(),
        }
    }

    /// True when `observed` equals [`Self::to_outcome`], without building it.
    pub fn matches(&self, observed: &Outcome) -> bool {
        match (self, observed) {
            (ReadView::GetData { data, stat }, Outcome::Ok { value: OpResult::GetData { data: d, stat: s } }) => {
                s == stat && d == *data
            }
            (
                ReadView::Children { children, stat },
                Outcome::Ok { value: OpResult::Children { children: c, stat: s } },
            ) => s == stat && children.same_names(c),
            (ReadView::Owned(o), _) => o == observed,
            _ => false,
        }
    }
}
