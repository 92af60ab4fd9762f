//! The Markdown summary of one run. Deterministic: nothing in it depends on the wall clock or
//! the machine, so the same seed gives the same bytes (the insta snapshots rely on it).

use super::html::fault_label;
use super::summary::{op_stats, PropertyKind, PropertyResult, Verdict};
use std::fmt::Write;
use zksim_model::{Event, History, SimTime};

/// History text outside code blocks, with the characters that could open HTML escaped (a
/// Markdown viewer would otherwise render a `<script>` in a node path).
pub fn text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A code fence longer than any run of backticks in `body`, so history text cannot close it.
pub fn fence_for(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

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
    let _ = writeln!(md, "# {} — seed {} — {verdict}\n", text(&h.scenario), h.seed);
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
            let mut refs = Vec::new();
            if !v.ops.is_empty() {
                refs.push(format!("ops {}", v.ops.iter().map(|o| format!("#{}", o.0)).collect::<Vec<_>>().join(", ")));
            }
            if !v.times_ns.is_empty() {
                let at: Vec<String> = v.times_ns.iter().map(|t| SimTime(*t).to_string()).collect();
                refs.push(format!("at {}", at.join(", ")));
            }
            let fence = fence_for(&v.explanation);
            let _ = writeln!(
                md,
                "- **{}** ({})\n\n{fence}\n{}\n{fence}",
                text(&v.summary),
                refs.join("; "),
                v.explanation.trim_end()
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{PropertyKind, Verdict, Violation};
    use zksim_model::history::HISTORY_FORMAT;
    use zksim_model::{ClientId, Header, ServerId};

    #[test]
    fn history_text_cannot_inject_html_or_close_code_blocks_and_violations_say_when() {
        let h = History {
            header: Header {
                format: HISTORY_FORMAT,
                scenario: "<img src=x>".into(),
                seed: 1,
                config_hash: String::new(),
                servers: vec![ServerId(1)],
                clients: vec![ClientId(1)],
                tick_ms: 100,
            },
            records: vec![],
        };
        let props = vec![PropertyResult {
            name: "p".into(),
            kind: PropertyKind::Always,
            verdict: Verdict::Fail,
            violations: vec![Violation {
                summary: "node /<b>".into(),
                explanation: "path /a```\n<script>".into(),
                ops: vec![],
                times_ns: vec![2_700_000_000],
            }],
        }];
        let md = render(&h, &RunFacts { properties: &props, replay: "r", sections: &[] });
        assert!(md.starts_with("# &lt;img src=x&gt; — seed 1 — FAIL"), "{md}");
        assert!(md.contains("**node /&lt;b&gt;** (at 2.700s)"), "{md}");
        assert!(md.contains("````\npath /a```\n<script>\n````"), "a longer fence: {md}");
    }
}
