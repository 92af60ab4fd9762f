//! The sweep index: a pass/fail table per scenario and property, failing seeds with their
//! replay lines and report links, herd-effect distributions, and coverage goals — listing the
//! goals no run reached, which are holes in the testing.

use super::html::esc;
use super::summary::Verdict;
use crate::sweep::SweepResult;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

#[derive(Default)]
struct Tally {
    pass: u64,
    fail: u64,
    other: u64,
}

/// Renders the sweep index as Markdown (also embedded in the HTML page).
pub fn markdown(sweep: &SweepResult) -> String {
    let mut md = String::new();
    let total = sweep.runs.len();
    let failing = sweep.failures().count();
    let expected = sweep.expected_failures().count();
    if expected == 0 {
        let _ = writeln!(md, "# zksim sweep — {total} runs, {failing} failing\n");
    } else {
        // Regression and planted-bug scenarios fail on purpose: counted apart, not as failing.
        let _ = writeln!(md, "# zksim sweep — {total} runs, {failing} failing, {expected} expected failures\n");
    }
    let by_scenario = group(sweep);
    md.push_str("## Verdicts\n\n| scenario | runs | failing | property | pass | fail | other |\n|---|---|---|---|---|---|---|\n");
    for (scenario, tallies) in &by_scenario {
        let runs = sweep.runs.iter().filter(|r| &r.scenario == scenario).count();
        let fails = sweep.runs.iter().filter(|r| &r.scenario == scenario && !r.passed()).count();
        if tallies.is_empty() {
            let _ = writeln!(md, "| {scenario} | {runs} | {fails} | — | | | |");
        }
        for (i, (prop, t)) in tallies.iter().enumerate() {
            let (s, r, f) = if i == 0 {
                (scenario.as_str(), runs.to_string(), fails.to_string())
            } else {
                ("", String::new(), String::new())
            };
            let _ = writeln!(md, "| {s} | {r} | {f} | {prop} | {} | {} | {} |", t.pass, t.fail, t.other);
        }
    }
    md.push_str("\n## Failing seeds\n\n");
    if failing == 0 {
        md.push_str("none\n");
    }
    for r in sweep.failures() {
        let why = r.failure.as_deref().unwrap_or("(no explanation recorded)");
        let _ = writeln!(
            md,
            "- **{}** seed {}: {}\n  - replay: `{}`",
            r.scenario,
            r.seed,
            why.lines().next().unwrap_or(""),
            r.replay
        );
        if let Some(rep) = &r.report {
            let _ = writeln!(md, "  - report: {rep}");
        }
    }

    // Herd-effect distributions, per scenario and figure.
    let mut herd: BTreeMap<(&str, &str), Vec<f64>> = BTreeMap::new();
    for r in &sweep.runs {
        for (k, v) in &r.herd {
            herd.entry((r.scenario.as_str(), k.as_str())).or_default().push(*v);
        }
    }
    if !herd.is_empty() {
        md.push_str("\n## Herd effect\n\n| scenario | figure | runs | min | mean | max |\n|---|---|---|---|---|---|\n");
        for ((s, k), v) in &herd {
            let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let _ = writeln!(md, "| {s} | {k} | {} | {min:.2} | {mean:.2} | {max:.2} |", v.len());
        }
    }

    // Coverage goals: how many runs reached each; the ones never reached are holes.
    let mut goals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for r in &sweep.runs {
        for (g, hit) in &r.coverage {
            let e = goals.entry(g.as_str()).or_default();
            e.1 += 1;
            if *hit {
                e.0 += 1;
            }
        }
    }
    if !goals.is_empty() {
        md.push_str("\n## Coverage goals\n\n| goal | runs reaching it |\n|---|---|\n");
        for (g, (hit, of)) in &goals {
            let _ = writeln!(md, "| {g} | {hit} / {of} |");
        }
        let holes: BTreeSet<&str> = goals.iter().filter(|(_, (hit, _))| *hit == 0).map(|(g, _)| *g).collect();
        md.push_str("\n### Holes (goals no run reached)\n\n");
        if holes.is_empty() {
            md.push_str("none\n");
        }
        for g in holes {
            let _ = writeln!(md, "- {g}");
        }
    }
    md
}

fn group(sweep: &SweepResult) -> BTreeMap<String, BTreeMap<String, Tally>> {
    let mut out: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    for r in &sweep.runs {
        let s = out.entry(r.scenario.clone()).or_default();
        for (p, v) in &r.properties {
            let t = s.entry(p.clone()).or_default();
            match v {
                Verdict::Pass | Verdict::Reached => t.pass += 1,
                Verdict::Fail => t.fail += 1,
                _ => t.other += 1,
            }
        }
    }
    out
}

/// Renders the sweep index as a self-contained HTML page.
pub fn html(sweep: &SweepResult) -> String {
    let md = markdown(sweep);
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>zksim sweep</title><style>\
         body{font-family:sans-serif;margin:1.5em} table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:2px 8px}\
         .fail{color:#b03a2e;font-weight:bold}</style></head><body>",
    );
    let failing = sweep.failures().count();
    let _ = write!(
        html,
        "<h1>zksim sweep — {} runs, <span class=\"{}\">{failing} failing</span></h1>",
        sweep.runs.len(),
        if failing > 0 { "fail" } else { "" }
    );
    html.push_str("<h2>Failing seeds</h2><ul>");
    for r in sweep.failures() {
        // Relative to this index (reports are written to `<dir>/<scenario>/seed-<seed>/`), so the
        // link works wherever the directory is opened or copied (merged shards included).
        let link = r
            .report
            .as_ref()
            .map(|_| {
                format!(" — <a href=\"{}/seed-{}/report.html\">timeline and violations</a>", esc(&r.scenario), r.seed)
            })
            .unwrap_or_default();
        let _ = write!(
            html,
            "<li><b>{}</b> seed {}: {}<br><code>{}</code>{link}</li>",
            esc(&r.scenario),
            r.seed,
            esc(r.failure.as_deref().unwrap_or("")),
            esc(&r.replay)
        );
    }
    html.push_str("</ul>");
    let _ = writeln!(html, "<h2>Details</h2><pre>{}</pre></body></html>", esc(&md));
    html
}
