//! `#[morgana::main]`: marks an appliance's `async fn main`, and makes it the entry of the
//! program (hosted) or image (bare metal).
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use morgana::prelude::*;
//!
//! #[morgana::main]
//! async fn main(env: Env) {
//!     println!("Hello from Morgana on {}", env.platform());
//! }
//! ```
//!
//! The function is renamed and left as it is; next to it the macro writes the entry symbol that
//! the platform expects. Written on `proc_macro` alone: the input is an `async fn` header, which
//! needs no parser crate.

use proc_macro::{Delimiter, Group, Ident, Span, TokenStream, TokenTree};

const RENAMED: &str = "__morgana_appliance_main";

/// Marks the appliance's `async fn main(env: morgana::Env)` (or `async fn main()`). It may
/// return anything that implements `morgana::ExitStatus`: `()`, an exit code, or a `Result`.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    if !args.is_empty() {
        return error(Span::call_site(), "#[morgana::main] takes no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();

    let Some(fn_at) = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
    else {
        return error(
            Span::call_site(),
            "#[morgana::main] goes on an `async fn main`",
        );
    };
    let is_async = tokens[..fn_at]
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    let name_span = match tokens.get(fn_at + 1) {
        Some(TokenTree::Ident(name)) => name.span(),
        _ => return error(Span::call_site(), "expected the function's name after `fn`"),
    };
    if !is_async {
        return error(
            name_span,
            "#[morgana::main] needs an `async fn`: the appliance runs on Morgana's executor",
        );
    }
    let takes_env = match tokens.get(fn_at + 2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => {
            !g.stream().is_empty()
        }
        _ => {
            return error(
                name_span,
                "#[morgana::main] takes `async fn main(env: morgana::Env)` without generics",
            );
        }
    };
    tokens[fn_at + 1] = TokenTree::Ident(Ident::new(RENAMED, name_span));

    let main = if takes_env {
        format!("{RENAMED}(env)")
    } else {
        format!("{RENAMED}()")
    };
    // `main`'s result through `Report`: an error that is `Display` prints with `{{}}`, anything
    // else through `ExitStatus` (autoref specialisation; see `morgana_boot::exit::Report`).
    let call = format!(
        "|env: ::morgana::Env| async move {{
            let _ = &env;
            #[allow(unused_imports)]
            use ::morgana::__rt::{{ReportDisplay as _, ReportExitStatus as _}};
            let status = ::morgana::__rt::Report::new({main}.await);
            (&&status).__morgana_exit_code()
        }}"
    );
    let entry: TokenStream = format!(
        r#"
        /// The process entry on the hosted platform (the crate is `#![no_main]`).
        #[cfg(not(target_os = "none"))]
        #[unsafe(no_mangle)]
        extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {{
            ::morgana::__rt::hosted_start({call})
        }}

        /// What a bare-metal shim calls once its machine is up.
        #[cfg(target_os = "none")]
        #[unsafe(no_mangle)]
        fn __morgana_appliance_entry(machine: ::morgana::__rt::Machine) -> i32 {{
            ::morgana::__rt::run(machine, {call})
        }}
        "#
    )
    .parse()
    .expect("the entry shim parses");

    let mut out: TokenStream = tokens.into_iter().collect();
    out.extend(entry);
    out
}

fn error(span: Span, message: &str) -> TokenStream {
    let mut msg = TokenStream::from(TokenTree::Literal(proc_macro::Literal::string(message)));
    msg = TokenStream::from(TokenTree::Group(Group::new(Delimiter::Parenthesis, msg)));
    let mut out: TokenStream = "::core::compile_error!".parse().expect("path parses");
    out.extend(msg);
    out.extend(";".parse::<TokenStream>().expect("semicolon parses"));
    out.into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect()
}
