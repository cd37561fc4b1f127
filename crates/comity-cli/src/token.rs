//! `comity token`: API tokens for the local API over loopback TCP
//! (`[local_api] tcp`), the JSON API and `/metrics`. They are files in the
//! data directory (`comity_node::tokens`), so these commands work whether
//! or not the node runs, and a revocation holds from the next request on.

use crate::{DataArg, Failure, JsonArg, output};
use clap::Subcommand;
use comity_node::tokens::{ApiTokens, TokenRecord};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token and print its secret, once: it is kept only hashed.
    Create {
        /// A name to list and revoke it by (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Allow only reads: status, lists, shows, attachments, reflection.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List the tokens (never their secrets).
    List {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Revoke a token: the next request with it is refused.
    Revoke {
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
}

fn access(record: &TokenRecord) -> &'static str {
    if record.read_only {
        "read-only"
    } else {
        "read-write"
    }
}

fn tokens(data: &DataArg) -> Result<ApiTokens, Failure> {
    let dir = comity_node::DataDir::new(&data.data);
    if !dir.is_initialised() {
        return Err(format!(
            "{} is not a Comity data directory: run `comity init` first, or give --data",
            data.data.display()
        )
        .into());
    }
    Ok(ApiTokens::in_data_dir(dir.root()))
}

pub fn run(command: TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            name,
            read_only,
            data,
            json,
        } => {
            let (record, secret) =
                tokens(&data)?.create(&name, read_only, time::OffsetDateTime::now_utc())?;
            if json.json {
                output::print_json(&serde_json::json!({
                    "name": record.name,
                    "read_only": record.read_only,
                    "created": record.created,
                    "token": secret,
                }));
            } else {
                println!("{secret}");
                eprintln!(
                    "token {} ({}) created: the line above is its secret, shown only now; \
                     send it as `authorization: Bearer <token>`",
                    record.name,
                    access(&record)
                );
            }
            Ok(())
        }
        TokenCommand::List { data, json } => {
            let records = tokens(&data)?.list()?;
            if json.json {
                output::print_json(&serde_json::Value::Array(
                    records
                        .iter()
                        .map(|r| {
                            serde_json::json!({
                                "name": r.name,
                                "read_only": r.read_only,
                                "created": r.created,
                            })
                        })
                        .collect(),
                ));
            } else {
                for r in &records {
                    println!("{}\t{}\t{}", r.name, access(r), r.created);
                }
            }
            Ok(())
        }
        TokenCommand::Revoke { name, data } => {
            tokens(&data)?.revoke(&name)?;
            println!("revoked {name}");
            Ok(())
        }
    }
}
