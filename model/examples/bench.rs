//! Prints the checker benchmark figures: `cargo run -p zksim-model --release --example bench [ops]`.

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    println!("{}", zksim_model::bench::bench_wgl_register(1_000, 10));
    println!("{}", zksim_model::bench::bench_witness(n));
}
