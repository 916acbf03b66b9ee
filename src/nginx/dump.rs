//! The text `nginx -T` prints: every file nginx read, split apart and read as nginx reads
//! it (directives, blocks, includes followed with their context), and put back together as
//! one self-contained file so that a candidate site file can be tested without touching
//! the live tree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// Every file in an `nginx -T` dump, the main config first.
#[derive(Debug, Clone)]
pub struct Dump {
    files: Vec<(PathBuf, String)>,
}

/// One directive as nginx sees it once includes are followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    /// The names of the enclosing blocks, outermost first: `["http", "server"]`.
    pub context: Vec<String>,
    /// A number per enclosing block, so that two `server` blocks can be told apart.
    pub scope: Vec<usize>,
    /// The number of the block this directive opens, if it opens one.
    pub block: Option<usize>,
    pub file: PathBuf,
    pub line: usize,
}

impl Dump {
    /// Splits the dump at its `# configuration file PATH:` headers.
    pub fn parse(text: &str) -> Result<Dump> {
        let mut files: Vec<(PathBuf, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let header = line
                .trim_end()
                .strip_prefix("# configuration file /")
                .and_then(|rest| rest.strip_suffix(':'));
            match (header, files.last_mut()) {
                (Some(path), _) => files.push((PathBuf::from(format!("/{path}")), String::new())),
                (None, Some((_, body))) => body.push_str(line),
                (None, None) if line.trim().is_empty() => {}
                (None, None) => bail!("`nginx -T` printed text before the first file header"),
            }
        }
        // nginx writes one line feed after each file's contents.
        for (_, body) in &mut files {
            if body.ends_with('\n') {
                body.pop();
            }
        }
        if files.is_empty() {
            bail!("`nginx -T` printed no configuration file");
        }
        Ok(Dump { files })
    }

    /// A dump of one file, read as if it were included at `context` (e.g. inside `http`).
    pub fn single(path: &Path, text: &str) -> Dump {
        Dump {
            files: vec![(path.to_path_buf(), text.to_string())],
        }
    }

    /// The main config file: the first one nginx read.
    pub fn main_file(&self) -> &Path {
        &self.files[0].0
    }

    /// The contents of a file nginx read.
    pub fn file(&self, path: &Path) -> Option<&str> {
        self.files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, text)| text.as_str())
    }

    /// Every directive, in the order nginx reads them, starting in `context`.
    /// `overrides` replaces or adds files (a candidate site file).
    pub fn directives(
        &self,
        context: &[&str],
        overrides: &BTreeMap<PathBuf, String>,
    ) -> Result<Vec<Directive>> {
        let mut walker = Walker {
            dump: self,
            overrides,
            out: Vec::new(),
            next_block: 0,
            stack: context.iter().map(|c| (c.to_string(), 0)).collect(),
            depth: 0,
        };
        walker.file(self.main_file())?;
        Ok(walker.out)
    }

    /// The files an `include` pattern names, sorted as nginx's glob sorts them.
    pub fn expand(&self, pattern: &Path, overrides: &BTreeMap<PathBuf, String>) -> Vec<PathBuf> {
        let pattern = pattern.to_string_lossy();
        let mut found: Vec<PathBuf> = self
            .files
            .iter()
            .map(|(p, _)| p)
            .chain(overrides.keys())
            .filter(|p| glob_match(&pattern, &p.to_string_lossy()))
            .cloned()
            .collect();
        found.sort();
        found.dedup();
        found
    }

    /// An include's pattern made absolute: relative ones are relative to the main config's
    /// directory, as nginx resolves them.
    pub fn resolve(&self, pattern: &str) -> PathBuf {
        let dir = self.main_file().parent().unwrap_or(Path::new("/"));
        dir.join(pattern)
    }

    fn text<'a>(&'a self, path: &Path, overrides: &'a BTreeMap<PathBuf, String>) -> &'a str {
        overrides
            .get(path)
            .map(String::as_str)
            .or_else(|| self.file(path))
            .unwrap_or("")
    }

    /// The whole config as one file with every include replaced by the files it names,
    /// and a map from its lines back to the files they came from.
    pub fn flatten(&self, overrides: &BTreeMap<PathBuf, String>) -> Result<Flat> {
        let mut flat = Flat::default();
        self.flatten_file(self.main_file(), overrides, &mut flat, 0)?;
        Ok(flat)
    }

    fn flatten_file(
        &self,
        path: &Path,
        overrides: &BTreeMap<PathBuf, String>,
        flat: &mut Flat,
        depth: usize,
    ) -> Result<()> {
        if depth > 32 {
            bail!("includes nest too deep at {}", path.display());
        }
        let text = self.text(path, overrides);
        let mut copied = 0;
        for include in includes(text)? {
            flat.copy(&text[copied..include.start], path, line_at(text, copied));
            for file in self.expand(&self.resolve(&include.pattern), overrides) {
                self.flatten_file(&file, overrides, flat, depth + 1)?;
                flat.newline();
            }
            copied = include.end;
        }
        flat.copy(&text[copied..], path, line_at(text, copied));
        flat.newline();
        Ok(())
    }
}

/// A flattened config and where each of its lines came from.
#[derive(Debug, Default)]
pub struct Flat {
    pub text: String,
    /// (first line in `text`, file, its line there), in order.
    segments: Vec<(usize, PathBuf, usize)>,
}

impl Flat {
    fn line(&self) -> usize {
        self.text.matches('\n').count() + 1
    }

    fn copy(&mut self, chunk: &str, file: &Path, line: usize) {
        self.segments.push((self.line(), file.to_path_buf(), line));
        self.text.push_str(chunk);
    }

    fn newline(&mut self) {
        if !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    /// The file and line that line `n` of the flattened text came from.
    pub fn origin(&self, n: usize) -> Option<(&Path, usize)> {
        let (start, file, line) = self.segments.iter().rev().find(|(s, _, _)| *s <= n)?;
        Some((file.as_path(), line + (n - start)))
    }
}

struct Walker<'a> {
    dump: &'a Dump,
    overrides: &'a BTreeMap<PathBuf, String>,
    out: Vec<Directive>,
    next_block: usize,
    stack: Vec<(String, usize)>,
    depth: usize,
}

impl Walker<'_> {
    fn file(&mut self, path: &Path) -> Result<()> {
        self.depth += 1;
        if self.depth > 32 {
            bail!("includes nest too deep at {}", path.display());
        }
        let text = self.dump.text(path, self.overrides).to_string();
        let mut words: Vec<(String, usize)> = Vec::new();
        for token in tokens(&text)? {
            match token.kind {
                Kind::Word(word) => words.push((word, token.line)),
                Kind::Semi => self.directive(path, std::mem::take(&mut words), None)?,
                Kind::Open => {
                    self.next_block += 1;
                    let id = self.next_block;
                    let name = words.first().map(|(w, _)| w.clone()).unwrap_or_default();
                    self.directive(path, std::mem::take(&mut words), Some(id))?;
                    self.stack.push((name, id));
                }
                Kind::Close => {
                    self.stack.pop();
                }
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn directive(
        &mut self,
        path: &Path,
        words: Vec<(String, usize)>,
        block: Option<usize>,
    ) -> Result<()> {
        let Some(((name, line), rest)) = words.split_first() else {
            return Ok(());
        };
        let args: Vec<String> = rest.iter().map(|(w, _)| w.clone()).collect();
        self.out.push(Directive {
            name: name.clone(),
            args: args.clone(),
            context: self.stack.iter().map(|(n, _)| n.clone()).collect(),
            scope: self.stack.iter().map(|(_, id)| *id).collect(),
            block,
            file: path.to_path_buf(),
            line: *line,
        });
        if name == "include" && block.is_none() && args.len() == 1 {
            for file in self
                .dump
                .expand(&self.dump.resolve(&args[0]), self.overrides)
            {
                self.file(&file)?;
            }
        }
        Ok(())
    }
}

enum Kind {
    Word(String),
    Semi,
    Open,
    Close,
}

struct Token {
    kind: Kind,
    line: usize,
    start: usize,
    end: usize,
}

/// Reads nginx's config syntax: words split by blanks, `;` `{` `}`, `#` comments at the
/// start of a word, quoted words, and backslash escapes.
fn tokens(text: &str) -> Result<Vec<Token>> {
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

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// An `include PATTERN;` directive in a file's text, by byte range.
struct Include {
    pattern: String,
    start: usize,
    end: usize,
}

fn includes(text: &str) -> Result<Vec<Include>> {
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

#[cfg(test)]
#[path = "dump_tests.rs"]
mod tests;
