//! The zksim command line. See README.md.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("help") | Some("--help") | Some("-h") => {
            println!("zksim: deterministic simulation testing for ZooKeeper-style services\n\nusage: zksim <command> [args]\n\ncommands: help");
        }
        Some(other) => {
            eprintln!("zksim: unknown command {other:?} (try `zksim help`)");
            std::process::exit(2);
        }
    }
}
