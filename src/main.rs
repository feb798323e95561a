//! The `faultline` binary: a thin wrapper that hands the arguments to `faultline::cli`.

fn main() {
    let code = faultline::cli::main(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::exit(code);
}
