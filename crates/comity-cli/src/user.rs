//! `comity user`: dashboard accounts. Through the running node when there is
//! one, otherwise straight into the store, so accounts can be made before the
//! first `serve`.

use crate::{DataArg, Failure, JsonArg, client, client::status_failure, output};
use clap::{Subcommand, ValueEnum};
use comity_node::{DataDir, accounts, words};
use comity_proto::v1 as proto;
use std::io::BufRead;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an account (or replace its role and password).
    Add {
        name: String,
        /// What the account may do.
        #[arg(long, ignore_case = true)]
        role: RoleArg,
        /// A group a liaison manager approves and posts for, e.g. ietf/ccamp
        /// (repeat for several); only with --role liaison-manager.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List the accounts.
    List {
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Remove an account.
    Remove {
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
}

/// A dashboard role as written on the command line.
#[derive(Clone, Copy, PartialEq, Eq, Debug, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Editor,
    LiaisonManager,
    Approver,
    Admin,
}

impl From<RoleArg> for accounts::Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Viewer => Self::Viewer,
            RoleArg::Editor => Self::Editor,
            RoleArg::LiaisonManager => Self::LiaisonManager,
            RoleArg::Approver => Self::Approver,
            RoleArg::Admin => Self::Admin,
        }
    }
}

fn password(from_stdin: bool) -> Result<String, Failure> {
    if let Ok(password) = std::env::var("COMITY_PASSWORD") {
        return Ok(password);
    }
    if !from_stdin {
        return Err("give the password with --password-stdin or in COMITY_PASSWORD".into());
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn user_json(user: &proto::UserView) -> serde_json::Value {
    serde_json::json!({"name": user.name, "role": words::role(user.role()), "groups": user.groups})
}

fn print_user(user: &proto::UserView, json: bool) {
    if json {
        output::print_json(&user_json(user));
    } else if user.groups.is_empty() {
        println!("{} ({})", user.name, words::role(user.role()));
    } else {
        println!(
            "{} ({} for {})",
            user.name,
            words::role(user.role()),
            user.groups.join(", ")
        );
    }
}

pub async fn run(command: UserCommand) -> Result<(), Failure> {
    match command {
        UserCommand::Add {
            name,
            role,
            groups,
            password_stdin,
            data,
            json,
        } => {
            let password = password(password_stdin)?;
            let role = accounts::Role::from(role);
            let data = DataDir::new(&data.data);
            let user = match client::connect(&data).await {
                Ok(mut api) => api
                    .add_user(proto::AddUserRequest {
                        name,
                        role: role.to_proto() as i32,
                        password,
                        groups,
                    })
                    .await
                    .map_err(status_failure)?
                    .into_inner(),
                Err(client::ClientError::NotRunning(_)) => {
                    let config = data.load_config()?;
                    accounts::check_own_groups(
                        config.org.as_str(),
                        &config.profile.groups,
                        &groups,
                    )?;
                    let store = data.open_store(&config)?;
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    let account =
                        accounts::add_account(&*store, &name, role, &groups, &password, now)?;
                    proto::UserView {
                        name: account.name,
                        role: account.role.to_proto() as i32,
                        created_at: None,
                        groups: account.groups,
                    }
                }
            };
            print_user(&user, json.json);
            Ok(())
        }
        UserCommand::List { data, json } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            let users = api
                .list_users(proto::ListUsersRequest {})
                .await
                .map_err(status_failure)?
                .into_inner()
                .users;
            if json.json {
                output::print_json(&serde_json::Value::Array(
                    users.iter().map(user_json).collect(),
                ));
            } else {
                users.iter().for_each(|u| print_user(u, false));
            }
            Ok(())
        }
        UserCommand::Remove { name, data } => {
            let mut api = client::connect(&DataDir::new(&data.data)).await?;
            api.remove_user(proto::RemoveUserRequest { name: name.clone() })
                .await
                .map_err(status_failure)?;
            println!("removed {name}");
            Ok(())
        }
    }
}
