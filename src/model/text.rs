//! Text from outside (a server's message, a value the user typed) as one line of the log
//! or the status topic may quote it.

/// Text a server sent, as a log line or the status topic may quote it: one line (control
/// characters as spaces) of at most `max_chars` characters, `…` marking a cut. A server's
/// error message is otherwise any size and shape.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let printable = |c: char| if c.is_control() { ' ' } else { c };
    let mut shown: String = text.trim().chars().take(max_chars).map(printable).collect();
    if text.trim().chars().nth(max_chars).is_some() {
        shown.push('…');
    }
    shown
}

/// How much of a server's error message a line quotes.
pub const QUOTED_CHARS: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_is_quoted_on_one_short_line() {
        assert_eq!(one_line(" bad\ntoken\r\n", 200), "bad token");
        assert_eq!(one_line(&"é".repeat(300), 3), "ééé…");
        assert_eq!(one_line("abc", 3), "abc");
    }
}
