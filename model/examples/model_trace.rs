//! `cargo run -p zksim-model --example model_trace -- FILE`: replays a trace through the
//! reference model (the same as `zksim model-trace FILE`).

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: model_trace FILE");
        std::process::exit(2);
    };
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(2);
        }
    };
    let stdout = std::io::stdout();
    if let Err(e) = zksim_model::trace::run_trace(std::io::BufReader::new(file), stdout.lock()) {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    }
}
