//! The PTX audit of `toolkit.rs`: the determinism rules of docs/engine.md ("CUDA backend")
//! checked instruction by instruction on NVRTC's output, with the test that proves it reports
//! each kind of violation.

use std::collections::BTreeMap;

/// One instruction that breaks a determinism rule.
#[derive(Debug)]
pub(crate) struct Violation {
    /// The kernel (`.entry`) or device function (`.func`) holding it.
    pub(crate) function: String,
    /// 1-based line in the PTX.
    pub(crate) line: usize,
    /// The instruction, without its `;`.
    pub(crate) instruction: String,
    /// The rule it breaks.
    pub(crate) rule: &'static str,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (function, line, instruction, rule) =
            (&self.function, self.line, &self.instruction, self.rule);
        write!(f, "{function}, line {line}: `{instruction}`: {rule}")
    }
}

/// What the audit saw: the instructions of each function, and every violation.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    /// Instructions seen per function.
    pub(crate) instructions: BTreeMap<String, usize>,
    /// Every violation, in PTX order.
    pub(crate) violations: Vec<Violation>,
}

/// The rules `opcode` (such as `add.rn.f32`) breaks.
fn broken_rules(opcode: &str) -> Vec<&'static str> {
    let mut parts = opcode.split('.');
    let base = parts.next().unwrap_or_default();
    let mods: Vec<&str> = parts.collect();
    let has = |m: &str| mods.contains(&m);
    let float = ["f16", "f16x2", "bf16", "bf16x2", "f32", "f64"]
        .iter()
        .any(|t| has(t));
    let mut rules = Vec::new();
    match base {
        "fma" => rules.push("fused multiply-add: the engine rounds the product and the sum apart"),
        "mad" if float || has("rn") => rules.push("floating-point multiply-add (mad)"),
        "atom" | "red" | "redux" => {
            rules.push("atomic or reduction: the order of accumulation would depend on scheduling");
        }
        // A plain barrier only orders the block's phases (the matmul's lanes hand their terms
        // to the one thread that adds them in order); bar.red and friends reduce.
        "bar" | "barrier" if mods == ["sync"] => {}
        "shfl" | "bar" | "barrier" | "vote" | "match" => {
            rules
                .push("warp or block cooperation: every reduction is one thread's sequential loop");
        }
        "ex2" | "lg2" | "sin" | "cos" | "tanh" | "rsqrt" | "rcp" => {
            rules.push("hardware transcendental or reciprocal: the engine uses libm's algorithms");
        }
        _ => {}
    }
    if has("approx") {
        rules.push("approximate instruction (.approx)");
    }
    if has("ftz") {
        rules.push("flush-to-zero (.ftz): subnormals must be kept");
    }
    if matches!(base, "add" | "sub" | "mul" | "div" | "sqrt") && float && !has("rn") {
        rules.push(
            "floating-point arithmetic without .rn (ptxas may fuse it into an fma, or approximate)",
        );
    }
    rules
}

/// `line` without comments; `in_block` carries a `/* */` comment across lines.
fn strip_comments(line: &str, in_block: &mut bool) -> String {
    let mut out = String::new();
    let mut rest = line;
    loop {
        if *in_block {
            match rest.find("*/") {
                Some(end) => {
                    rest = &rest[end + 2..];
                    *in_block = false;
                }
                None => return out,
            }
        }
        let line_comment = rest.find("//");
        let block = rest.find("/*");
        match (line_comment, block) {
            (Some(l), Some(b)) if b < l => {
                out.push_str(&rest[..b]);
                rest = &rest[b + 2..];
                *in_block = true;
            }
            (None, Some(b)) => {
                out.push_str(&rest[..b]);
                rest = &rest[b + 2..];
                *in_block = true;
            }
            (Some(l), _) => {
                out.push_str(&rest[..l]);
                return out;
            }
            (None, None) => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// The function a `.entry` or `.func` directive declares, if `text` is one.
fn declared_function(text: &str) -> Option<String> {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let at = [".entry ", ".func "]
        .iter()
        .find_map(|k| words.find(k).map(|i| i + k.len()))?;
    let mut rest = words[at..].trim_start();
    if rest.starts_with('(') {
        // `.func (.param .b32 retval) name(...)`: skip the return parameters.
        rest = rest[rest.find(')')? + 1..].trim_start();
    }
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$'))
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Audits PTX instruction by instruction (comments, directives, labels and braces skipped):
/// no fused or approximate arithmetic, no flush-to-zero, no atomics or cross-thread
/// cooperation but plain barriers, no hardware transcendentals, every floating-point add, sub, mul, div and
/// sqrt rounded to nearest (`.rn`).
pub(crate) fn audit(ptx: &str) -> Audit {
    let mut audit = Audit::default();
    let mut function = String::from("<module>");
    let mut in_block = false;
    for (i, raw) in ptx.lines().enumerate() {
        let text = strip_comments(raw, &mut in_block);
        if let Some(name) = declared_function(&text) {
            function = name;
            continue;
        }
        for stmt in text.split(';') {
            let mut stmt = stmt.trim().trim_start_matches(['{', '}']).trim();
            // A label (`$L__BB0_2:`) may precede an instruction.
            if let Some((label, after)) = stmt.split_once(':')
                && !label.contains(char::is_whitespace)
                && !label.contains('[')
            {
                stmt = after.trim();
            }
            if stmt.starts_with('@') {
                // The guard predicate (`@%p1`, `@!%p1`).
                stmt = stmt
                    .split_once(char::is_whitespace)
                    .map_or("", |(_, s)| s.trim());
            }
            let opcode = stmt.split_whitespace().next().unwrap_or_default();
            if opcode.is_empty() || opcode.starts_with(['.', '(', ')', '{', '}']) {
                continue;
            }
            *audit.instructions.entry(function.clone()).or_default() += 1;
            for rule in broken_rules(opcode) {
                audit.violations.push(Violation {
                    function: function.clone(),
                    line: i + 1,
                    instruction: stmt.to_owned(),
                    rule,
                });
            }
        }
    }
    audit
}

#[test]
fn audit_reports_each_broken_rule() {
    // Every line marked BAD must be reported with its function; nothing else.
    let ptx = "\
.version 9.0
.target sm_90
.address_size 64
\t// .globl\tbad
/* a block comment: fma.rn.f32 %f1, %f1, %f1, %f1; sin.approx.f32 %f1, %f1;
   still in it: div.approx.f32 %f1, %f1, %f1; */
.visible .entry bad(
\t.param .u64 bad_param_0
)
{
\t.reg .f32 \t%f<9>;
\t.pragma \"nounroll\";
\t// fma.rn.f32 in a comment is no instruction
\tfma.rn.f32 \t%f3, %f1, %f2, %f1; // BAD
\tdiv.approx.f32 \t%f4, %f1, %f2; // BAD
\tadd.ftz.f32 \t%f5, %f1, %f2; // BAD
\t@%p1 atom.global.add.f32 \t%f6, [%rd1], %f1; // BAD
\tadd.f32 \t%f7, %f1, %f2; // BAD
\tmad.rn.f32 \t%f7, %f1, %f2, %f3; // BAD
\tshfl.sync.bfly.b32 \t%r1, %r2, 1, 31, -1; // BAD
\tbar.sync \t0;
\tbar.red.popc.u32 \t%r1, 0, %p1; // BAD
\tvote.sync.any.pred \t%p1, %p2, -1; // BAD
\tred.global.add.u32 \t[%rd1], %r1; // BAD
$L__BB0_2: rsqrt.approx.f32 \t%f8, %f1; // BAD
\tadd.rn.f32 \t%f8, %f1, %f2;
\tmad.lo.s32 \t%r3, %r1, %r2, %r1;
\tdiv.rn.f32 \t%f8, %f1, %f2;
\tsqrt.rn.f32 \t%f8, %f1;
\tcvt.rzi.s32.f32 \t%r4, %f1;
\tret;
}
.func  (.param .b32 func_retval0) helper(
\t.param .b32 helper_param_0
)
{
\tex2.approx.f32 \t%f1, %f2; // BAD
\tmul.f64 \t%fd1, %fd2, %fd3; // BAD
\tmul.rn.f32 \t%f3, %f1, %f2;
\tret;
}
";
    let found = audit(ptx);
    for v in &found.violations {
        println!("{v}");
    }
    let bad: Vec<usize> = ptx
        .lines()
        .enumerate()
        .filter(|(_, l)| l.ends_with("// BAD"))
        .map(|(i, _)| i + 1)
        .collect();
    let mut reported: Vec<usize> = found.violations.iter().map(|v| v.line).collect();
    reported.dedup();
    assert_eq!(reported, bad, "lines reported vs lines marked BAD");
    let helper_line = bad[bad.len() - 2];
    for v in &found.violations {
        let want = if v.line >= helper_line {
            "helper"
        } else {
            "bad"
        };
        assert_eq!(v.function, want, "{v}");
    }
    // add.ftz.f32 breaks two rules: flush-to-zero and no .rn.
    assert_eq!(
        found.violations.iter().filter(|v| v.line == bad[2]).count(),
        2
    );
    assert_eq!(found.instructions.get("bad"), Some(&18));
    assert_eq!(found.instructions.get("helper"), Some(&4));
}
