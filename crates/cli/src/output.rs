//! Rendering for people and scripts: stdout writes that survive a closed pipe, error
//! chains, aligned text tables, token amounts, and schema values as JSON.

use std::fmt::Write as _;
use std::process::ExitCode;

use alloy::primitives::U256;
use serde_json::json;

use aikernel_schema::{Node, Value};

/// Why stdout could not be written: the payload [`write_stdout`] unwinds to `main` with.
#[derive(Debug)]
pub(crate) struct StdoutFailed(pub(crate) std::io::Error);

/// Writes to stdout, like `print!` without its panic: when the write fails (the reader of
/// a pipe went away, as in `aikernel status | head -1`), unwinds to `main` with
/// [`StdoutFailed`], running every destructor on the way (child processes, temporary
/// files) and printing no panic message; `main` then calls [`stdout_failed`].
pub(crate) fn write_stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = std::io::Write::write_fmt(&mut out, args) {
        unwind_stdout_failed(e);
    }
}

/// Ends the command after a failed stdout write, as [`write_stdout`] does; for writers that
/// could not unwind where the write failed (inside the engine's generation loop).
pub(crate) fn unwind_stdout_failed(err: std::io::Error) -> ! {
    std::panic::resume_unwind(Box::new(StdoutFailed(err)))
}

/// The exit after a failed stdout write. A closed pipe exits 0, silently: the reader took
/// what it wanted (`head -1`), and 0, unlike the shell's 141 for a process killed by
/// SIGPIPE, keeps `set -o pipefail` scripts going (ripgrep does the same). Rust ignores
/// SIGPIPE and restoring it needs `unsafe`, which this crate forbids. Any other failure
/// (a full disk) is an error.
pub(crate) fn stdout_failed(err: &std::io::Error) -> ExitCode {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        return ExitCode::SUCCESS;
    }
    eprintln!("error: writing to stdout: {err}");
    ExitCode::FAILURE
}

/// `print!` that survives a closed stdout (see [`write_stdout`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `println!` that survives a closed stdout (see [`write_stdout`]).
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// An error and its causes joined by `: `, each cause left out when the message before it
/// already ends with it (most error types here print their source in their own message,
/// and anyhow's `{:#}` would print it a second time).
pub(crate) fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for cause in err.chain() {
        let message = cause.to_string();
        if !previous.ends_with(&message) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&message);
        }
        previous = message;
    }
    text
}

/// A text table with a header row; columns are as wide as their widest cell.
#[derive(Debug, Default)]
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (missing cells print empty, extra cells are dropped).
    pub(crate) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as text: header, a rule, the rows; two spaces between columns.
    pub(crate) fn render(&self) -> String {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                if i + 1 < n {
                    let _ = write!(text, "{cell:<w$}  ");
                } else {
                    text.push_str(cell);
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&self.headers);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule);
        for row in &self.rows {
            line(row);
        }
        out
    }
}

/// `value` with `decimals` decimals, trailing zeros trimmed: `1500000000000000000` -> `1.5`.
pub(crate) fn units(value: U256, decimals: u8) -> String {
    let scale = U256::from(10).pow(U256::from(decimals));
    let whole = value / scale;
    let frac = value % scale;
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{frac:0>width$}", width = decimals as usize);
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// An amount of wei as ETH, e.g. `0.0015 ETH`; below 1 gwei as wei, e.g. `12600 wei`.
pub(crate) fn eth(wei: U256) -> String {
    if wei < U256::from(1_000_000_000u64) {
        return format!("{wei} wei");
    }
    format!("{} ETH", units(wei, 18))
}

/// An amount of EAI base units as EAI, e.g. `1000 EAI`.
pub(crate) fn eai(amount: U256) -> String {
    format!("{} EAI", units(amount, 18))
}

/// `0x` and lowercase hex.
pub(crate) fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

/// A schema value as JSON: text as a string, a choice as `{index, option}`, integers as
/// numbers, addresses as hex strings, tuples and arrays as arrays.
pub(crate) fn value_json(node: Option<&Node>, value: &Value) -> serde_json::Value {
    match (node, value) {
        (_, Value::Text(s)) => json!(s),
        (Some(Node::Choice(options)), Value::Choice(i)) => {
            json!({ "index": i, "option": options.get(*i as usize) })
        }
        (_, Value::Choice(i)) => json!({ "index": i }),
        (_, Value::Int(v)) => json!(v),
        (_, Value::Bool(b)) => json!(b),
        (_, Value::Address(a)) => json!(hex0x(a)),
        (_, Value::Tuple(items) | Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let child = match node {
                    Some(Node::Tuple(nodes)) => nodes.get(i),
                    Some(Node::Array { element, .. }) => Some(element.as_ref()),
                    _ => None,
                };
                value_json(child, item)
            })
            .collect(),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_name_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let repeated = anyhow::Error::new(FileError(io)).context("loading model m.gguf");
        assert_eq!(
            error_chain(&repeated),
            "loading model m.gguf: cannot read m.gguf: no such file"
        );
        let plain = anyhow::anyhow!("bad header").context("loading");
        assert_eq!(error_chain(&plain), "loading: bad header");
    }

    /// An error that prints its source in its own message, as most here do.
    #[derive(Debug)]
    struct FileError(std::io::Error);

    impl std::fmt::Display for FileError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read m.gguf: {}", self.0)
        }
    }

    impl std::error::Error for FileError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["id", "name", "x"]);
        t.push(vec!["1".into(), "long name".into(), "a".into()]);
        t.push(vec!["22".into(), "é".into()]);
        assert_eq!(
            t.render(),
            "id  name       x\n--  ---------  -\n1   long name  a\n22  é\n"
        );
    }

    #[test]
    fn units_trim_zeros() {
        let e18 = U256::from(10).pow(U256::from(18));
        assert_eq!(units(e18 * U256::from(1000), 18), "1000");
        assert_eq!(units(e18 + e18 / U256::from(2), 18), "1.5");
        assert_eq!(units(U256::from(1), 18), "0.000000000000000001");
        assert_eq!(units(U256::ZERO, 18), "0");
        assert_eq!(eth(U256::from(1_500_000_000_000_000u64)), "0.0015 ETH");
        assert_eq!(eth(U256::from(12_600)), "12600 wei");
        assert_eq!(eth(U256::from(1_000_000_000u64)), "0.000000001 ETH");
    }

    #[test]
    fn values_as_json() {
        let node = Node::tuple([Node::choice(["a", "b"]), Node::array(Node::Bool, 2)]);
        let v = Value::Tuple(vec![
            Value::Choice(1),
            Value::Array(vec![Value::Bool(true)]),
        ]);
        assert_eq!(
            value_json(Some(&node), &v),
            json!([{ "index": 1, "option": "b" }, [true]])
        );
        assert_eq!(
            value_json(None, &Value::Address([1; 20])),
            json!(format!("0x{}", "01".repeat(20)))
        );
    }
}
