//! Reports: per run a Markdown summary and a self-contained HTML page with a timeline; per
//! sweep an index.

pub mod html;
pub mod index;
pub mod markdown;
pub mod summary;
