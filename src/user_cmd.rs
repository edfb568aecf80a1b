//! `shoal user add|list|del|passwd`: manages the SMB user database
//! (`<state_dir>/users.sqlite`). Passwords are read from standard input, one line, and only
//! their NT hash is stored.

use std::io::BufRead;
use std::path::Path;

use anyhow::Context;
use shoal_auth::UserDb;

/// User subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Add a user (password from standard input with --password-stdin).
    Add {
        /// User name.
        name: String,
        /// Unix uid (default: next free from 1000).
        #[arg(long)]
        uid: Option<u32>,
        /// Unix gid (default: the uid).
        #[arg(long)]
        gid: Option<u32>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Delete a user.
    Del {
        /// User name.
        name: String,
    },
    /// Change a user's password (from standard input with --password-stdin).
    Passwd {
        /// User name.
        name: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        anyhow::bail!("--password-stdin is required (the password is read from standard input)");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.strip_suffix('\n').unwrap_or(&line);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    if pw.is_empty() {
        anyhow::bail!("empty password on standard input");
    }
    Ok(pw.to_string())
}

fn open(state_dir: &Path) -> anyhow::Result<UserDb> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("server.state_dir: creating {}", state_dir.display()))?;
    let path = state_dir.join("users.sqlite");
    UserDb::open(&path).with_context(|| format!("user database {}", path.display()))
}

/// Runs a user subcommand against the database in `state_dir`.
pub fn run(cmd: UserCommand, state_dir: &Path) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            uid,
            gid,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            let u = open(state_dir)?.add(&name, &pw, uid, gid)?;
            println!(
                "added user {} uid={} gid={} sid={}",
                u.name, u.uid, u.gid, u.sid
            );
        }
        UserCommand::List => {
            for u in open(state_dir)?.list()? {
                println!("{}\tuid={}\tgid={}\t{}", u.name, u.uid, u.gid, u.sid);
            }
        }
        UserCommand::Del { name } => {
            open(state_dir)?.delete(&name)?;
            println!("deleted user {name}");
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            open(state_dir)?.set_password(&name, &pw)?;
            println!("password changed for {name}");
        }
    }
    Ok(())
}
