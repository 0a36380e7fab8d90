fn main() -> std::process::ExitCode {
    ferro_ocf::cli::main()
}
