//! A self-contained HTML page per run: the verdicts, then an SVG timeline with one lane per
//! server and client — operations as bars coloured by outcome, faults and leader changes as
//! bands, recipe ownership as a Gantt row — with violations highlighted and linked.
//! All text that comes from a history is escaped.

use super::summary::{PropertyResult, Verdict};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use zksim_model::history::RecipeAction;
use zksim_model::{Event, Fault, History, Node, OpId, Outcome, Role, ServerId};

/// At most this many operation bars per client lane; the page says how many it left out (the
/// full history is in the run's `history.jsonl`).
pub const MAX_BARS_PER_LANE: usize = 4000;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

struct Bar {
    op: OpId,
    start: u64,
    end: u64,
    class: &'static str,
    title: String,
}

/// Renders the run page.
pub fn render(history: &History, properties: &[PropertyResult], markdown_summary: &str) -> String {
    let end_ns = history.records.last().map_or(1, |r| r.time.0).max(1);
    let width = 1400.0f64;
    let x = |t: u64| -> f64 { 160.0 + (t as f64 / end_ns as f64) * (width - 170.0) };
    let flagged: BTreeSet<OpId> =
        properties.iter().flat_map(|p| p.violations.iter().flat_map(|v| v.ops.iter().copied())).collect();

    // Lanes: servers, then clients.
    let mut lanes: Vec<Node> = history.header.servers.iter().map(|s| Node::Server(*s)).collect();
    lanes.extend(history.header.clients.iter().map(|c| Node::Client(*c)));
    let lane_of: BTreeMap<Node, usize> = lanes.iter().enumerate().map(|(i, n)| (*n, i)).collect();

    let mut bars: BTreeMap<Node, Vec<Bar>> = BTreeMap::new();
    let mut open: BTreeMap<OpId, (Node, u64, String)> = BTreeMap::new();
    let mut roles: BTreeMap<ServerId, Vec<(u64, Role)>> = BTreeMap::new();
    let mut faults: Vec<(u64, String)> = Vec::new();
    let mut gantt: BTreeMap<String, Vec<(u64, Option<u64>, String)>> = BTreeMap::new();
    for r in &history.records {
        let t = r.time.0;
        match &r.event {
            Event::Invoke { op_id, client, session, op, .. } => {
                open.insert(*op_id, (Node::Client(*client), t, format!("#{} {} on {session}", op_id.0, op.name())));
                let _ = op;
            }
            Event::Complete { op_id, outcome, zxid, .. } => {
                if let Some((node, start, title)) = open.remove(op_id) {
                    let class = match outcome {
                        Outcome::Ok { .. } => "ok",
                        Outcome::Err { .. } | Outcome::MultiErr { .. } => "err",
                        Outcome::Indeterminate { .. } => "ind",
                    };
                    let z = zxid.map(|z| format!(" zxid {z}")).unwrap_or_default();
                    let what = outcome.error().map(|e| format!(" {e}")).unwrap_or_default();
                    bars.entry(node).or_default().push(Bar {
                        op: *op_id,
                        start,
                        end: t,
                        class,
                        title: format!("{title}{what}{z}"),
                    });
                }
            }
            Event::Role { server, role, .. } => roles.entry(*server).or_default().push((t, *role)),
            Event::Fault { fault } => faults.push((t, fault_label(fault))),
            Event::Recipe { client, note, .. } => {
                let row = gantt.entry(note.recipe.clone()).or_default();
                match &note.action {
                    RecipeAction::Acquired { .. } | RecipeAction::Leading { .. } => {
                        row.push((t, None, format!("{client}")));
                    }
                    RecipeAction::Released { .. } | RecipeAction::Abdicated | RecipeAction::Lost => {
                        if let Some(last) =
                            row.iter_mut().rev().find(|(_, e, who)| e.is_none() && *who == format!("{client}"))
                        {
                            last.1 = Some(t);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    // Operations still open at the end are drawn to the end, as pending.
    for (op, (node, start, title)) in open {
        bars.entry(node).or_default().push(Bar {
            op,
            start,
            end: end_ns,
            class: "pending",
            title: format!("{title} (no completion)"),
        });
    }

    let lane_h = 22.0;
    let top = 40.0;
    let gantt_rows = gantt.len();
    let height = top + lane_h * (lanes.len() + gantt_rows) as f64 + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">"#
    );
    // Time axis.
    let secs = end_ns / 1_000_000_000;
    let step = (secs / 20).max(1);
    for s in (0..=secs).step_by(step as usize) {
        let xx = x(s * 1_000_000_000);
        let _ = write!(
            svg,
            r##"<line x1="{xx:.1}" y1="20" x2="{xx:.1}" y2="{height}" stroke="#eee"/><text x="{xx:.1}" y="15">{s}s</text>"##
        );
    }
    // Fault markers across every lane.
    for (t, label) in &faults {
        let xx = x(*t);
        let _ = write!(
            svg,
            r##"<line class="fault" x1="{xx:.1}" y1="20" x2="{xx:.1}" y2="{height}" stroke="#c33" stroke-dasharray="3,3"><title>{}</title></line>"##,
            esc(label)
        );
    }
    let mut omitted = Vec::new();
    for (i, node) in lanes.iter().enumerate() {
        let y = top + lane_h * i as f64;
        let _ = write!(svg, r#"<text x="4" y="{:.1}">{}</text>"#, y + 14.0, esc(&node.to_string()));
        if let Node::Server(s) = node {
            let spans = roles.get(s).cloned().unwrap_or_default();
            for (k, (t, role)) in spans.iter().enumerate() {
                let t_end = spans.get(k + 1).map_or(end_ns, |n| n.0);
                let (fill, label) = match role {
                    Role::Leading => ("#f5b041", "leading".to_string()),
                    Role::Following { leader } => ("#aed6f1", format!("following {leader}")),
                    Role::Looking => ("#f9e79f", "looking".to_string()),
                    Role::Down => ("#999", "down".to_string()),
                };
                let _ = write!(
                    svg,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="{fill}"><title>{} {}</title></rect>"#,
                    x(*t),
                    y + 2.0,
                    (x(t_end) - x(*t)).max(0.5),
                    esc(&node.to_string()),
                    esc(&label)
                );
            }
        }
        if let Some(list) = bars.get(node) {
            if list.len() > MAX_BARS_PER_LANE {
                omitted.push((*node, list.len() - MAX_BARS_PER_LANE));
            }
            for b in list.iter().take(MAX_BARS_PER_LANE) {
                let bad = flagged.contains(&b.op);
                let stroke = if bad { r#" stroke="red" stroke-width="2""# } else { "" };
                let _ = write!(
                    svg,
                    r##"<a href="#op-{}"><rect id="bar-{}" class="{}" x="{:.1}" y="{:.1}" width="{:.1}" height="16"{stroke}><title>{}</title></rect></a>"##,
                    b.op.0,
                    b.op.0,
                    b.class,
                    x(b.start),
                    y + 2.0,
                    (x(b.end) - x(b.start)).max(1.0),
                    esc(&b.title)
                );
            }
        }
        let _ = lane_of;
    }
    for (k, (recipe, spans)) in gantt.iter().enumerate() {
        let y = top + lane_h * (lanes.len() + k) as f64;
        let _ = write!(svg, r#"<text x="4" y="{:.1}">{}</text>"#, y + 14.0, esc(&truncate(recipe, 20)));
        for (i, (t0, t1, who)) in spans.iter().enumerate() {
            let t1 = t1.unwrap_or(end_ns);
            let hue = (i * 67) % 360;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="16" fill="hsl({hue},60%,65%)"><title>{} held by {}</title></rect>"#,
                x(*t0),
                y + 2.0,
                (x(t1) - x(*t0)).max(1.0),
                esc(recipe),
                esc(who)
            );
        }
    }
    // Violations: a red band at each moment a violation involves, linked to its explanation.
    for (i, p) in properties.iter().enumerate() {
        for (k, v) in p.violations.iter().enumerate() {
            for (j, t) in v.times_ns.iter().enumerate() {
                let xx = x(*t);
                let _ = write!(
                    svg,
                    r##"<a href="#v-{i}-{k}"><rect id="vmark-{i}-{k}-{j}" class="violation" x="{:.1}" y="20" width="5" height="{:.1}" fill="red" fill-opacity="0.35"><title>{} at {}: {}</title></rect></a>"##,
                    xx - 2.5,
                    height - 20.0,
                    esc(&p.name),
                    zksim_model::SimTime(*t),
                    esc(&v.summary)
                );
            }
        }
    }
    svg.push_str("</svg>");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>zksim {} seed {}</title><style>\
         body{{font-family:sans-serif;margin:1.5em}} pre{{background:#f6f6f6;padding:1em;overflow:auto}}\
         rect.ok{{fill:#58d68d}} rect.err{{fill:#f0b27a}} rect.ind{{fill:#aab7b8}} rect.pending{{fill:#d7dbdd}}\
         .fail{{color:#b03a2e;font-weight:bold}} .pass{{color:#1e8449}} table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 8px}}</style></head><body>",
        esc(&history.header.scenario),
        history.header.seed
    );
    let _ = write!(html, "<h1>{} — seed {}</h1>", esc(&history.header.scenario), history.header.seed);
    let failing = properties.iter().filter(|p| p.verdict == Verdict::Fail).count();
    if failing > 0 {
        let _ = write!(
            html,
            "<p class=\"fail\">FAIL: {failing} propert{} violated — each violation is explained below and marked \
             in red on the <a href=\"#timeline\">timeline</a>.</p>",
            if failing == 1 { "y" } else { "ies" }
        );
    }
    html.push_str("<h2>Properties</h2><table><tr><th>property</th><th>verdict</th></tr>");
    for (i, p) in properties.iter().enumerate() {
        let class = if p.verdict == Verdict::Fail { "fail" } else { "pass" };
        let name = if p.violations.is_empty() {
            esc(&p.name)
        } else {
            format!(
                "<a href=\"#prop-{i}\">{}</a> ({} violation{})",
                esc(&p.name),
                p.violations.len(),
                if p.violations.len() == 1 { "" } else { "s" }
            )
        };
        let _ = write!(html, "<tr><td>{name}</td><td class=\"{class}\">{:?}</td></tr>", p.verdict);
    }
    html.push_str("</table>");
    for (i, p) in properties.iter().enumerate().filter(|(_, p)| !p.violations.is_empty()) {
        let _ = write!(html, "<h3 id=\"prop-{i}\" class=\"fail\">{}</h3>", esc(&p.name));
        for (k, v) in p.violations.iter().enumerate() {
            for op in &v.ops {
                let _ = write!(html, "<a id=\"op-{}\"></a>", op.0);
            }
            let ops: Vec<String> = v.ops.iter().map(|o| format!("<a href=\"#bar-{0}\">#{0}</a>", o.0)).collect();
            let times: Vec<String> = v
                .times_ns
                .iter()
                .enumerate()
                .map(|(j, t)| format!("<a href=\"#vmark-{i}-{k}-{j}\">{}</a>", zksim_model::SimTime(*t)))
                .collect();
            let mut refs = Vec::new();
            if !ops.is_empty() {
                refs.push(format!("ops {}", ops.join(" ")));
            }
            if !times.is_empty() {
                refs.push(format!("at {}", times.join(", ")));
            }
            let _ = write!(
                html,
                "<div id=\"v-{i}-{k}\"><p><b>{}</b> ({})</p><pre>{}</pre></div>",
                esc(&v.summary),
                refs.join("; "),
                esc(&v.explanation)
            );
        }
    }
    html.push_str(
        "<h2 id=\"timeline\">Timeline</h2><p>Bars: green ok, orange error, grey indeterminate. Server lanes: orange leading, \
                   blue following, yellow looking, grey down. Red dashed lines: faults (hover for details). \
                   Violating operations are outlined in red; red bands mark violations (click to read).</p>",
    );
    for (node, n) in &omitted {
        let _ = write!(html, "<p>{}: {} more operations not drawn (see history.jsonl).</p>", esc(&node.to_string()), n);
    }
    html.push_str(&svg);
    let _ = writeln!(html, "<h2>Summary</h2><pre>{}</pre></body></html>", esc(markdown_summary));
    html
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// A one-line description of a fault.
pub fn fault_label(f: &Fault) -> String {
    let nodes = |v: &[Node]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
    match f {
        Fault::Partition { groups } => {
            format!("partition {}", groups.iter().map(|g| format!("[{}]", nodes(g))).collect::<Vec<_>>().join(" | "))
        }
        Fault::PartitionOneWay { from, to } => format!("partition one-way [{}] -/-> [{}]", nodes(from), nodes(to)),
        Fault::Isolate { node } => format!("isolate {node}"),
        Fault::Heal => "heal".into(),
        Fault::Crash { node, torn } => format!("crash {node}{}", if *torn { " (torn write)" } else { "" }),
        Fault::Restart { node } => format!("restart {node}"),
        Fault::Pause { node } => format!("pause {node}"),
        Fault::Resume { node } => format!("resume {node}"),
        Fault::SetLossRate { rate } => format!("loss rate {rate:.3}"),
        Fault::SetLatency { latency_ms_min, latency_ms_max } => {
            format!("latency {latency_ms_min}..{latency_ms_max} ms")
        }
        Fault::ExpireSession { session } => format!("expire session {session}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zksim_model::history::HISTORY_FORMAT;
    use zksim_model::{ClientId, ErrorCode, Header, Op, Record, SessionId, SimTime};

    #[test]
    fn escapes_history_text_and_links_violations() {
        let h = History {
            header: Header {
                format: HISTORY_FORMAT,
                scenario: "<script>".into(),
                seed: 1,
                config_hash: String::new(),
                servers: vec![ServerId(1)],
                clients: vec![ClientId(1)],
                tick_ms: 100,
            },
            records: vec![
                Record {
                    time: SimTime(0),
                    event: Event::Invoke {
                        op_id: OpId(7),
                        client: ClientId(1),
                        session: SessionId(1),
                        xid: 1,
                        op: Op::Sync { path: "/<x>".into() },
                    },
                },
                Record {
                    time: SimTime(1_000_000),
                    event: Event::Complete {
                        op_id: OpId(7),
                        outcome: Outcome::Err { code: ErrorCode::NoNode },
                        zxid: None,
                        server: None,
                    },
                },
            ],
        };
        let props = vec![PropertyResult {
            name: "p".into(),
            kind: super::super::summary::PropertyKind::Always,
            verdict: Verdict::Fail,
            violations: vec![super::super::summary::Violation {
                summary: "bad <thing>".into(),
                explanation: "x & y".into(),
                ops: vec![OpId(7)],
                times_ns: vec![1_000_000],
            }],
        }];
        let page = render(&h, &props, "summary <b>");
        assert!(!page.contains("<script>"), "history text must be escaped");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("bad &lt;thing&gt;") && page.contains("x &amp; y"));
        assert!(page.contains("href=\"#bar-7\"") && page.contains("id=\"bar-7\""), "violations link to their bars");
        assert!(page.contains("stroke=\"red\""), "violating ops are highlighted");
        assert!(
            page.contains("href=\"#prop-0\"") && page.contains("id=\"prop-0\""),
            "the verdict table links violations"
        );
        assert!(
            page.contains("id=\"vmark-0-0-0\"")
                && page.contains("href=\"#vmark-0-0-0\"")
                && page.contains("href=\"#v-0-0\""),
            "violation times are marked on the timeline and linked both ways"
        );
    }
}
