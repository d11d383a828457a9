//! COPY and ADD: sources and destination, heredoc files, and each one's flags.
//!
//! API (crate-internal): [`copy_or_add`], [`inline`] (a heredoc as an inline file).

use super::bflags::FlagKind;
use super::convert::Ctx;
use super::error::InstructionError;
use super::types::*;
use crate::parser::{chomp_heredoc_content, parse_heredoc_marker, Heredoc};

pub(super) fn inline(doc: &Heredoc, chomp_now: bool) -> InlineFile {
    InlineFile {
        name: doc.name.clone(),
        content: if chomp_now && doc.chomp {
            chomp_heredoc_content(&doc.content)
        } else {
            doc.content.clone()
        },
        expand: doc.expand,
        chomp: doc.chomp,
        fd: doc.fd,
    }
}

pub(super) fn copy_or_add(cx: &Ctx) -> Result<Instruction, InstructionError> {
    let is_add = cx.node.name == "add";
    let args = &cx.node.args;
    let Some((dest, sources)) = args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(cx.invalid(
            format!(
                "{} requires at least two arguments, but only one was provided. Destination could not be determined",
                cx.upper
            ),
            format!("`{} <src>... <dest>`", cx.upper),
        ));
    };
    let mut spec = vec![
        ("chown", FlagKind::String),
        ("chmod", FlagKind::String),
        ("link", FlagKind::Bool),
        ("exclude", FlagKind::Strings),
    ];
    if is_add {
        spec.extend([
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::String),
            ("unpack", FlagKind::Bool),
        ]);
    } else {
        spec.extend([("from", FlagKind::String), ("parents", FlagKind::Bool)]);
    }
    let flags = cx.flags(&spec)?;
    if matches!(parse_heredoc_marker(dest), Ok(Some(_))) {
        return Err(InstructionError::Invalid {
            at: Box::new(cx.src.at_text(cx.node.start_line, dest)),
            message: format!("{} cannot accept a heredoc as a destination", cx.upper),
            expected: format!("`{} <<EOF /destination`", cx.upper),
        });
    }
    let mut out = CopyArgs {
        dest: dest.clone(),
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link").unwrap_or(false),
        parents: flags.bool("parents").unwrap_or(false),
        exclude: flags.strings("exclude"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        unpack: flags.bool("unpack"),
        ..CopyArgs::default()
    };
    for src in sources {
        match parse_heredoc_marker(src) {
            Ok(Some(marker)) => {
                let body = cx.node.heredoc(&marker.name);
                let mut file = body.map(|d| inline(d, true)).unwrap_or(InlineFile {
                    name: marker.name.clone(),
                    content: String::new(),
                    expand: marker.expand,
                    chomp: marker.chomp,
                    fd: marker.fd,
                });
                // The marker in the argument list decides, as in BuildKit.
                file.expand = marker.expand;
                if marker.chomp && !file.chomp {
                    file.content = chomp_heredoc_content(&file.content);
                }
                out.heredocs.push(file);
            }
            _ => out.sources.push(src.clone()),
        }
    }
    Ok(if is_add {
        Instruction::Add(out)
    } else {
        Instruction::Copy(out)
    })
}
