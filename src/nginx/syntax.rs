//! nginx's config syntax, as far as ohproxy needs to read it: words, `;`, blocks,
//! comments, quotes and escapes, the `include` directives of a file by byte range, and the
//! shell-style patterns nginx's includes use.

use anyhow::{Result, bail};

/// What a token is: a word (quotes and escapes resolved), or one of `;` `{` `}`.
pub enum Kind {
    Word(String),
    Semi,
    Open,
    Close,
}

/// A token, with its line and byte range in the file's text.
pub struct Token {
    pub kind: Kind,
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

/// Reads nginx's config syntax: words split by blanks, `;` `{` `}`, `#` comments at the
/// start of a word, quoted words, and backslash escapes.
pub fn tokens(text: &str) -> Result<Vec<Token>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b'\n' => {
                line += 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b';' => Kind::Semi,
            b'{' => Kind::Open,
            b'}' => Kind::Close,
            b'"' | b'\'' => {
                let (word, end, lines) = quoted(text, i)?;
                out.push(Token {
                    kind: Kind::Word(word),
                    line,
                    start,
                    end,
                });
                line += lines;
                i = end;
                continue;
            }
            _ => {
                let (word, end) = bare(text, i);
                out.push(Token {
                    kind: Kind::Word(word),
                    line,
                    start,
                    end,
                });
                i = end;
                continue;
            }
        };
        i += 1;
        out.push(Token {
            kind,
            line,
            start,
            end: i,
        });
    }
    Ok(out)
}

fn quoted(text: &str, open: usize) -> Result<(String, usize, usize)> {
    let bytes = text.as_bytes();
    let quote = bytes[open];
    let mut word = Vec::new();
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                word.push(bytes[i + 1]);
                i += 2;
            }
            c if c == quote => {
                let lines = text[open..i].matches('\n').count();
                return Ok((String::from_utf8_lossy(&word).into_owned(), i + 1, lines));
            }
            c => {
                word.push(c);
                i += 1;
            }
        }
    }
    bail!("unterminated quote at line {}", line_at(text, open))
}

fn bare(text: &str, from: usize) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut word = Vec::new();
    let mut i = from;
    let mut in_variable = false;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' | b';' => break,
            // `${name}` is one word; any other `{` starts a block.
            b'{' if !(i > from && bytes[i - 1] == b'$') => break,
            b'{' => in_variable = true,
            b'}' if in_variable => in_variable = false,
            b'\\' if i + 1 < bytes.len() => {
                word.push(bytes[i + 1]);
                i += 2;
                continue;
            }
            _ => {}
        }
        word.push(c);
        i += 1;
    }
    (String::from_utf8_lossy(&word).into_owned(), i)
}

pub fn line_at(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// An `include PATTERN;` directive in a file's text, by byte range.
pub struct Include {
    pub pattern: String,
    pub start: usize,
    pub end: usize,
}

pub fn includes(text: &str) -> Result<Vec<Include>> {
    let tokens = tokens(text)?;
    let mut found = Vec::new();
    let mut first: Option<usize> = None;
    for (i, token) in tokens.iter().enumerate() {
        match &token.kind {
            Kind::Word(_) if first.is_none() => first = Some(i),
            Kind::Semi => {
                if let Some(f) = first.take()
                    && i == f + 2
                    && matches!(&tokens[f].kind, Kind::Word(w) if w == "include")
                    && let Kind::Word(pattern) = &tokens[f + 1].kind
                {
                    found.push(Include {
                        pattern: pattern.clone(),
                        start: tokens[f].start,
                        end: token.end,
                    });
                }
            }
            Kind::Open | Kind::Close => first = None,
            Kind::Word(_) => {}
        }
    }
    Ok(found)
}

/// Shell-style matching of `*`, `?` and `[...]`, as glob(3) does for nginx's includes;
/// a wildcard never matches `/`, and never a leading `.` of a file name.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    glob_at(&p, &s, 0, 0)
}

fn glob_at(p: &[char], s: &[char], pi: usize, si: usize) -> bool {
    let hidden = |si: usize| s[si] == '.' && (si == 0 || s[si - 1] == '/');
    match p.get(pi) {
        None => si == s.len(),
        Some('*') => {
            let mut k = si;
            loop {
                if glob_at(p, s, pi + 1, k) {
                    return true;
                }
                if k == s.len() || s[k] == '/' || (k == si && hidden(k)) {
                    return false;
                }
                k += 1;
            }
        }
        Some('?') => si < s.len() && s[si] != '/' && !hidden(si) && glob_at(p, s, pi + 1, si + 1),
        Some('[') => match p[pi..].iter().position(|&c| c == ']') {
            Some(close) if si < s.len() => {
                let set = &p[pi + 1..pi + close];
                let (negate, set) = match set.first() {
                    Some('!') | Some('^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let hit = class_contains(set, s[si]);
                hit != negate && glob_at(p, s, pi + close + 1, si + 1)
            }
            _ => false,
        },
        Some(&c) => si < s.len() && s[si] == c && glob_at(p, s, pi + 1, si + 1),
    }
}

fn class_contains(set: &[char], c: char) -> bool {
    let mut i = 0;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == '-' {
            if set[i] <= c && c <= set[i + 2] {
                return true;
            }
            i += 3;
        } else {
            if set[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}
