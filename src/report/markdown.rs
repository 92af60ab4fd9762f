//! The Markdown summary of one run. Deterministic: nothing in it depends on the wall clock or
//! the machine, so the same seed gives the same bytes (the insta snapshots rely on it).

use super::html::fault_label;
use super::summary::{op_stats, PropertyKind, PropertyResult, Verdict};
use std::fmt::Write;
use zksim_model::{Event, History};

/// Everything the summary needs besides the history.
pub struct RunFacts<'a> {
    pub properties: &'a [PropertyResult],
    /// The line to paste to replay this run.
    pub replay: &'a str,
    /// Extra sections (herd-effect figures, coverage goals) as (title, markdown body).
    pub sections: &'a [(String, String)],
}

/// True when no property failed.
pub fn passed(properties: &[PropertyResult]) -> bool {
    properties.iter().all(|p| p.verdict != Verdict::Fail)
}

/// Renders the summary.
pub fn render(history: &History, facts: &RunFacts<'_>) -> String {
    let h = &history.header;
    let mut md = String::new();
    let verdict = if passed(facts.properties) { "PASS" } else { "FAIL" };
    let _ = writeln!(md, "# {} — seed {} — {verdict}\n", h.scenario, h.seed);
    let end = history.records.last().map(|r| r.time).unwrap_or_default();
    let _ = writeln!(md, "- config hash: `{}`", h.config_hash);
    let _ = writeln!(md, "- servers: {}, clients: {}, tick: {} ms", h.servers.len(), h.clients.len(), h.tick_ms);
    let _ = writeln!(md, "- simulated duration: {end}, history records: {}", history.records.len());
    let _ = writeln!(md, "- replay: `{}`\n", facts.replay);

    md.push_str("## Properties\n\n| property | kind | verdict |\n|---|---|---|\n");
    for p in facts.properties {
        let kind = match p.kind {
            PropertyKind::Always => "always",
            PropertyKind::Eventually => "eventually",
            PropertyKind::Sometimes => "sometimes",
        };
        let _ = writeln!(md, "| {} | {kind} | {:?} |", p.name, p.verdict);
    }
    for p in facts.properties.iter().filter(|p| !p.violations.is_empty()) {
        let _ = writeln!(md, "\n### Violations of `{}`\n", p.name);
        for v in &p.violations {
            let ops: Vec<String> = v.ops.iter().map(|o| format!("#{}", o.0)).collect();
            let _ =
                writeln!(md, "- **{}** (ops {})\n\n```\n{}\n```", v.summary, ops.join(", "), v.explanation.trim_end());
        }
    }

    md.push_str("\n## Faults\n\n");
    let faults: Vec<String> = history
        .records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Fault { fault } => Some(format!("- {} {}", r.time, fault_label(fault))),
            _ => None,
        })
        .collect();
    if faults.is_empty() {
        md.push_str("none\n");
    } else {
        md.push_str(&faults.join("\n"));
        md.push('\n');
    }

    md.push_str("\n## Operations (simulated time)\n\n| op | count | ok | error | indeterminate | pending | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|\n");
    for (name, s) in op_stats(history) {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            s.count + s.pending,
            s.ok,
            s.errors,
            s.indeterminate,
            s.pending,
            s.p50_ms,
            s.p99_ms,
            s.max_ms
        );
    }
    for (title, body) in facts.sections {
        let _ = writeln!(md, "\n## {title}\n\n{}", body.trim_end());
    }
    md
}
