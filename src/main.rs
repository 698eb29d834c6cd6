fn main() {
    std::process::exit(kod::cli::main());
}
