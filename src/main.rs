//! tinysrs command line: `tinysrs [-c FILE] [-t]`.

// The library builds with any set of features (the byte formats and the hub alone are useful,
// to fuzz or to embed); a server needs at least one protocol that listens.
#[cfg(not(any(feature = "rtmp", feature = "http", feature = "gb28181")))]
compile_error!(
    "the tinysrs server needs a protocol that listens: build with at least one of the \
     features rtmp, http-flv, http-ts, hls, api or gb28181 (see boards/ and Cargo.toml)"
);

use std::path::PathBuf;
use std::process::ExitCode;

use tinysrs::config::Config;
use tinysrs::wire::date::Rfc3339;

const USAGE: &str = "\
Usage: tinysrs [OPTIONS]

A low-memory, single-threaded live-streaming server (RTMP origin) for small boards.
With no config file it runs with embedded defaults: RTMP on 0.0.0.0:1935, one default vhost.

Options:
  -c, --config FILE   load the TOML config FILE
  -t, --test          check the config (embedded defaults or -c FILE), print the worst-case
                      memory its limits allow, and exit 0 if valid, 1 if not
  -v, --version       print the version and exit
  -h, --help          print this help and exit

Signals: SIGHUP reloads the config file, SIGTERM/SIGINT stop the server.";

struct Args {
    config: Option<PathBuf>,
    test: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        config: None,
        test: false,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("-c" | "--config") => {
                let file = it.next().ok_or("-c needs a FILE")?;
                args.config = Some(PathBuf::from(file));
            }
            Some("-t" | "--test") => args.test = true,
            Some("-v" | "-V" | "--version") => {
                out(&format!("tinysrs {}", env!("CARGO_PKG_VERSION")));
                return Ok(None);
            }
            Some("-h" | "--help") => {
                out(USAGE);
                return Ok(None);
            }
            _ => return Err(format!("unknown argument {arg:?}; see --help")),
        }
    }
    Ok(Some(args))
}

/// Prints a line on stdout; a closed pipe (`tinysrs -t | head`) is not an error.
fn out(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// The log: one line per record on stderr, `2026-12-31T08:20:03.389534798Z [INFO] message`
/// (UTC, RFC 3339), written at once so that lines from the disk thread do not interleave.
struct StderrLog;

impl log::Log for StderrLog {
    /// Everything passes: the level in force is log's max level, which a reload can change.
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        use std::fmt::Write as _;
        use std::io::Write as _;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let time = Rfc3339 {
            unix_secs: now.as_secs(),
            nanos: now.subsec_nanos(),
        };
        let mut line = String::with_capacity(128);
        let _ = writeln!(line, "{time} [{}] {}", record.level(), record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

fn init_logging(level: log::LevelFilter) {
    static LOG: StderrLog = StderrLog;
    let _ = log::set_logger(&LOG);
    log::set_max_level(level);
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinysrs: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match &args.config {
        Some(path) => Config::load(path),
        None => Ok(Config::embedded()),
    };
    let config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tinysrs: {e}");
            if args.test {
                eprintln!("tinysrs: configuration test failed");
            }
            return ExitCode::FAILURE;
        }
    };
    if args.test {
        let origin = args
            .config
            .as_ref()
            .map_or("embedded defaults".to_string(), |p| p.display().to_string());
        out(&format!("tinysrs: configuration {origin} is ok"));
        out(&tinysrs::limits::Limits::of(&config).budget().to_string());
        return ExitCode::SUCCESS;
    }
    init_logging(config.log_level);
    log::info!(
        "tinysrs {} starting ({})",
        env!("CARGO_PKG_VERSION"),
        args.config
            .as_ref()
            .map_or("embedded defaults".to_string(), |p| p.display().to_string())
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tinysrs: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    #[cfg(feature = "api")]
    let _ =
        tinysrs::server::api::MEMORY_BUDGET.set(|c| tinysrs::limits::Limits::of(c).budget().total);
    // The server runs as a task of its own, not as the future `block_on` drives: the LocalSet
    // polls that future again every time any of its tasks wakes (each publisher's read, each
    // player's write), and the accept loop's select over six listeners and three signals cost
    // about 7% of a publisher-heavy server's instructions so (callgrind, 20 publishers).
    let server = tinysrs::net::serve(config, args.config);
    let result = local.block_on(&runtime, async move {
        tokio::task::spawn_local(server)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    });
    match result {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Stand-ins for the libunwind functions that the router builds' std names but never calls,
/// so that no libunwind object is linked (about 38 KB of the router binary: its DWARF
/// unwinder, its messages and the unwind tables of its C code).
///
/// The MIPS targets rebuild std with `panic = "abort"` and without its `backtrace` feature
/// (targets/mips*.toml: `build-std-features` leaves it out), so nothing unwinds and std's
/// panic and out-of-memory hooks never print a backtrace (`get_backtrace_style()` is
/// constantly `None`). Two unreachable paths still name libunwind: the backtrace printer the
/// optimizer keeps (`_Unwind_Backtrace`, `_Unwind_GetIP`), and std's personality routine,
/// which the linker drops as unused but only after its references have pulled libunwind's
/// objects in. Defined here, the linker looks for none of them in libunwind. Should a later
/// std name another one, the link fails with a duplicate symbol rather than growing quietly.
/// Test builds (`panic = "unwind"`) and the other targets keep the real ones.
#[cfg(all(target_arch = "mips", target_env = "musl", panic = "abort"))]
mod no_unwind {
    use std::ffi::{c_int, c_void};

    /// `_URC_END_OF_STACK`: a backtrace walk ends at once, with no frame.
    const END_OF_STACK: c_int = 5;

    #[no_mangle]
    extern "C" fn _Unwind_Backtrace(
        _trace: extern "C" fn(*mut c_void, *mut c_void) -> c_int,
        _arg: *mut c_void,
    ) -> c_int {
        END_OF_STACK
    }

    #[no_mangle]
    extern "C" fn _Unwind_GetIP(_context: *mut c_void) -> usize {
        0
    }

    // What the personality routine calls while it unwinds a frame: never, with
    // panic = "abort". Should it run anyway, stop rather than unwind with made-up values.

    #[no_mangle]
    extern "C" fn _Unwind_GetIPInfo(_context: *mut c_void, _before: *mut c_int) -> usize {
        std::process::abort()
    }

    #[no_mangle]
    extern "C" fn _Unwind_GetLanguageSpecificData(_context: *mut c_void) -> *mut c_void {
        std::process::abort()
    }

    #[no_mangle]
    extern "C" fn _Unwind_GetRegionStart(_context: *mut c_void) -> usize {
        std::process::abort()
    }

    #[no_mangle]
    extern "C" fn _Unwind_GetDataRelBase(_context: *mut c_void) -> usize {
        std::process::abort()
    }

    #[no_mangle]
    extern "C" fn _Unwind_GetTextRelBase(_context: *mut c_void) -> usize {
        std::process::abort()
    }

    #[no_mangle]
    extern "C" fn _Unwind_SetGR(_context: *mut c_void, _index: c_int, _value: usize) {
        std::process::abort()
    }

    #[no_mangle]
    extern "C" fn _Unwind_SetIP(_context: *mut c_void, _value: usize) {
        std::process::abort()
    }
}

/// A stand-in for musl's `pthread_setname_np`, which std's thread start calls to name the disk
/// thread ("tinysrs-disk"): musl's writes the name to `/proc/self/task/<tid>/comm` through a
/// path built by `snprintf`, the only caller of `printf` in the router binary (about 11 KB:
/// musl's formatter with its float printing). The kernel's `prctl(PR_SET_NAME)` names the
/// calling thread the same way (std has cut the name to 15 bytes already), and std only ever
/// names the thread that is starting, so any other thread is refused with `ESRCH`. Should a
/// later musl or std need more of that object, the link fails with a duplicate symbol.
#[cfg(all(target_arch = "mips", target_env = "musl"))]
mod no_printf {
    use nix::libc::{self, c_char, c_int, pthread_t};

    #[no_mangle]
    extern "C" fn pthread_setname_np(thread: pthread_t, name: *const c_char) -> c_int {
        // SAFETY: `pthread_self` has no preconditions; `name` is the NUL-terminated string
        // std passes (PR_SET_NAME reads at most 16 bytes of it and stops at the NUL).
        unsafe {
            if libc::pthread_equal(thread, libc::pthread_self()) == 0 {
                return libc::ESRCH;
            }
            if libc::prctl(libc::PR_SET_NAME, name, 0, 0, 0) != 0 {
                return *libc::__errno_location();
            }
        }
        0
    }
}
