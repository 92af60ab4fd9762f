//! Benchmark figures (ignored: run with `cargo test -p zksim-model --release --test bench -- --ignored --nocapture`)
//! and small always-on checks that the benchmark inputs are what they claim.

use zksim_model::bench::{bench_wgl_register, bench_witness, register_history};

#[test]
fn small_benchmarks_produce_passing_verdicts() {
    let w = bench_witness(2_000);
    assert_eq!(w.verdict, "pass", "{w}");
    assert!(w.records > 4_000, "{w}");
    let r = bench_wgl_register(200, 5);
    assert!(r.verdict.starts_with("ok"), "{r}");
    assert_eq!(register_history(50, 3, 1).len(), 50);
}

#[test]
#[ignore = "benchmark: run in release"]
fn print_figures() {
    let r = bench_wgl_register(1_000, 10);
    println!("{r}");
    assert!(r.verdict.starts_with("ok"), "{r}");
    let w = bench_witness(1_000_000);
    println!("{w}");
    assert_eq!(w.verdict, "pass", "{w}");
}
