//! The trace interface: the example trace replays to its golden output, and bad input names the
//! line and the field.

use zksim_model::trace::{run_trace, TraceError};

const EXAMPLE: &str = include_str!("../testdata/example-trace.jsonl");
const EXAMPLE_OUT: &str = include_str!("../testdata/example-trace.out.jsonl");

fn run(input: &str) -> Result<String, TraceError> {
    let mut out = Vec::new();
    run_trace(input.as_bytes(), &mut out)?;
    Ok(String::from_utf8(out).expect("utf-8 output"))
}

#[test]
fn example_trace_replays_to_its_golden_output() {
    let got = run(EXAMPLE).expect("the example trace is well-formed");
    let ops = EXAMPLE.lines().filter(|l| l.contains("\"op\"")).count();
    assert_eq!(got.lines().count(), ops, "one result line per op");
    for (i, (g, e)) in got.lines().zip(EXAMPLE_OUT.lines()).enumerate() {
        assert_eq!(g, e, "result {i} differs from testdata/example-trace.out.jsonl");
    }
    assert_eq!(got, EXAMPLE_OUT);
}

#[test]
fn default_namespace_is_a_fresh_server() {
    let got = run("{\"op\": \"children\", \"path\": \"/\"}\n").unwrap();
    assert!(got.contains("[\"zookeeper\"]"), "{got}");
    let got = run("{\"namespace\": \"chroot\"}\n{\"op\": \"children\", \"path\": \"/\"}\n").unwrap();
    assert!(got.contains("\"children\":[]"), "{got}");
}

fn input_error(input: &str) -> (usize, String, String) {
    match run(input) {
        Err(TraceError::Input { line, field, expected }) => (line, field, expected),
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn bad_input_names_line_and_field() {
    let (line, field, expected) = input_error("{\"op\": \"get\", \"path\": \"/\"}\n\n{\"op\": \"set\", \"path\": \"/\", \"data\": \"x\", \"version\": \"one\"}\n");
    assert_eq!((line, field.as_str()), (3, "version"));
    assert!(expected.contains("32-bit integer"), "{expected}");
    let (line, field, _) = input_error("{\"op\": \"delete\", \"path\": \"/a\"}\n");
    assert_eq!((line, field.as_str()), (1, "version"), "a missing field is named");
    let (line, field, _) = input_error("{\"op\": \"frobnicate\"}\n");
    assert_eq!((line, field.as_str()), (1, "op"));
    let (line, field, _) = input_error("{\"op\": \"get\", \"path\": \"/\", \"session\": 4}\n");
    assert_eq!((line, field.as_str()), (1, "session"), "a session never opened");
    let (line, field, _) = input_error("{\"op\": \"multi\", \"ops\": [{\"op\": \"create\", \"path\": 5}]}\n");
    assert_eq!((line, field.as_str()), (1, "ops[0].path"));
    let (line, field, _) = input_error("{\"namespace\": \"moon\"}\n");
    assert_eq!((line, field.as_str()), (1, "namespace"));
    let (line, field, _) = input_error("{\"op\": \"get\", \"path\": \"/\"}\nnot json\n");
    assert_eq!((line, field.as_str()), (2, "-"));
}

#[test]
fn a_long_wait_is_cheap_and_still_reaps() {
    let input = "{\"namespace\": \"chroot\"}\n\
                 {\"op\": \"create\", \"path\": \"/t\", \"data\": \"\", \"mode\": \"ttl\", \"ttl\": 5000000}\n\
                 {\"op\": \"exists\", \"path\": \"/t\", \"watch\": true}\n\
                 {\"op\": \"wait\", \"ms\": 1000000000000}\n\
                 {\"op\": \"exists\", \"path\": \"/t\"}\n";
    let got = run(input).expect("well-formed");
    let lines: Vec<&str> = got.lines().collect();
    assert!(lines[2].contains("NodeDeleted"), "the TTL node is reaped during the wait: {}", lines[2]);
    assert_eq!(lines[3], "{\"ok\":null,\"events\":[]}");
}

/// Inside a multi the server rebuilds each create from its flags (MultiOperationRecord →
/// `Op.create(path, data, acl, flags[, ttl])`, whose type is `getOpcode(CreateMode.fromFlag(flags,
/// PERSISTENT))`): createContainer with flag 0 is a plain create (path only, never reaped),
/// create2 with flag 4 a real container (with its stat), createTTL with a non-TTL flag a plain
/// create. Outside a multi, an explicit opcode without flags sends the mode's flags.
#[test]
fn multi_create_kind_follows_the_flags() {
    let got = run(concat!(
        "{\"namespace\": \"chroot\"}\n",
        "{\"op\": \"multi\", \"ops\": [",
        "{\"op\": \"create\", \"path\": \"/c\", \"opcode\": 19, \"flags\": 0},",
        "{\"op\": \"create\", \"path\": \"/d\", \"opcode\": 15, \"flags\": 4},",
        "{\"op\": \"create\", \"path\": \"/e\", \"opcode\": 21, \"ttl\": 1000},",
        "{\"op\": \"create\", \"path\": \"/c/x\"}, {\"op\": \"create\", \"path\": \"/d/x\"}]}\n",
        "{\"op\": \"multi\", \"ops\": [{\"op\": \"delete\", \"path\": \"/c/x\", \"version\": -1},",
        "{\"op\": \"delete\", \"path\": \"/d/x\", \"version\": -1}]}\n",
        "{\"op\": \"wait\", \"ms\": 3000}\n",
        "{\"op\": \"children\", \"path\": \"/\"}\n",
        "{\"op\": \"create\", \"path\": \"/t\", \"mode\": \"ttl\", \"ttl\": 100, \"opcode\": 15}\n",
    ))
    .unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert!(
        lines[0].starts_with("{\"ok\":[{\"ok\":{\"path\":\"/c\"}},{\"ok\":{\"path\":\"/d\",\"stat\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("{\"ok\":{\"path\":\"/e\"}}"), "{}", lines[0]);
    assert!(lines[3].contains("\"children\":[\"c\",\"e\"]"), "only /d was a container: {}", lines[3]);
    assert_eq!(lines[4], "{\"err\":\"BadArguments\",\"events\":[]}", "create2 with flag 5 has no ttl");
}

/// ZOOKEEPER-4466 in a trace: a one-shot get watch set after a persistent watch replaces it in
/// 3.8.0 (the default rules), so the second set notifies nobody; with the fixed rules both
/// coexist and the persistent watch hears the second set too.
#[test]
fn watch_rules_default_to_3_8_0_and_can_be_fixed() {
    let ops = "{\"op\": \"create\", \"path\": \"/w\", \"data\": \"\"}\n\
               {\"op\": \"add_watch\", \"path\": \"/w\", \"mode\": \"persistent\"}\n\
               {\"op\": \"get\", \"path\": \"/w\", \"watch\": true}\n\
               {\"op\": \"set\", \"path\": \"/w\", \"data\": \"a\", \"version\": -1}\n\
               {\"op\": \"set\", \"path\": \"/w\", \"data\": \"b\", \"version\": -1}\n";
    let second_set_events = |header: &str| {
        let out = run(&format!("{header}{ops}")).unwrap();
        out.lines().nth(4).unwrap().contains("NodeDataChanged")
    };
    assert!(!second_set_events(""), "3.8.0: the get watch replaced the persistent one");
    assert!(!second_set_events("{\"watch_rules\": \"3.8.0\"}\n"));
    assert!(second_set_events("{\"watch_rules\": \"fixed\"}\n"), "fixed: the persistent watch stays");
    let (line, field, expected) = input_error("{\"watch_rules\": \"3.9\"}\n");
    assert_eq!((line, field.as_str()), (1, "watch_rules"));
    assert!(expected.contains("3.8.0"), "{expected}");
}

/// A trace's get_ephemerals answers as the model's read does (FinalRequestProcessor: a prefix
/// Java's trim() leaves empty or "/" lists every ephemeral; others compare untrimmed), not with a
/// plain prefix filter of its own.
#[test]
fn get_ephemerals_in_a_trace_follows_the_servers_prefix_rules() {
    let got = run("{\"op\": \"create\", \"path\": \"/e\", \"data\": \"\", \"mode\": \"ephemeral\"}\n\
                   {\"op\": \"get_ephemerals\", \"path\": \" / \"}\n\
                   {\"op\": \"get_ephemerals\", \"path\": \"\\t\"}\n\
                   {\"op\": \"get_ephemerals\", \"path\": \" /e\"}\n")
    .unwrap();
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines[1], "{\"ok\":{\"paths\":[\"/e\"]},\"events\":[]}");
    assert_eq!(lines[2], "{\"ok\":{\"paths\":[\"/e\"]},\"events\":[]}");
    assert_eq!(lines[3], "{\"ok\":{\"paths\":[]},\"events\":[]}");
}
