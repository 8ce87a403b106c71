//! Tables as Go's `text/tabwriter` prints them with minwidth 0, tabwidth 8, padding 1 and
//! padchar `'\t'` (updateservicectl.md §1.4): columns are padded with TAB characters to
//! the 8-column grid, column widths are computed per contiguous block of lines.

const TAB_WIDTH: usize = 8;
const PADDING: usize = 1;

/// Formats tab-separated lines (each line's cells joined by `\t`, no trailing newline in
/// the items) into the aligned output, every line ending with `\n`.
#[must_use]
pub fn format(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let mut out = String::new();
    // A line without tabs flushes: it ends the block (and is printed as it is).
    let mut start = 0;
    for (i, line) in cells.iter().enumerate() {
        if line.len() == 1 {
            let mut widths = Vec::new();
            format_block(&cells[start..=i], &mut widths, &mut out);
            start = i + 1;
        }
    }
    let mut widths = Vec::new();
    format_block(&cells[start..], &mut widths, &mut out);
    out
}

/// Go's recursive column-block algorithm: column `widths.len()` is sized over each run of
/// lines that have a tab-terminated cell in it.
fn format_block(lines: &[Vec<&str>], widths: &mut Vec<usize>, out: &mut String) {
    let column = widths.len();
    let mut printed = 0;
    let mut this = 0;
    while this < lines.len() {
        if column >= lines[this].len() - 1 {
            this += 1;
            continue;
        }
        write_lines(&lines[printed..this], widths, out);
        let begin = this;
        let mut width = 0;
        while this < lines.len() && column < lines[this].len() - 1 {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format_block(&lines[begin..this], widths, out);
        widths.pop();
        printed = this;
    }
    write_lines(&lines[printed..], widths, out);
}

fn write_lines(lines: &[Vec<&str>], widths: &[usize], out: &mut String) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(&width) = widths.get(j).filter(|_| j + 1 < line.len()) {
                let text = cell.chars().count();
                let cell_width = width.div_ceil(TAB_WIDTH) * TAB_WIDTH;
                let tabs = cell_width.saturating_sub(text).div_ceil(TAB_WIDTH);
                out.extend(std::iter::repeat_n('\t', tabs));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn app_table_matches_go() {
        let out = format(&lines(&[
            "Id\tLabel\tDescription",
            "e96281a6-d1af-4bde-9a0a-97b76e56dc57\tFakeApp\tFake app for testing",
        ]));
        assert_eq!(
            out,
            "Id\t\t\t\t\tLabel\tDescription\n\
             e96281a6-d1af-4bde-9a0a-97b76e56dc57\tFakeApp\tFake app for testing\n"
        );
    }

    #[test]
    fn one_character_id_gets_five_tabs() {
        let out = format(&lines(&["x\ty", "e96281a6-d1af-4bde-9a0a-97b76e56dc57\tz"]));
        assert!(out.starts_with("x\t\t\t\t\ty\n"), "{out:?}");
    }

    #[test]
    fn a_line_without_tabs_ends_the_block() {
        let out = format(&lines(&["Label\tCount", "", "a-much-longer-label\t2"]));
        assert_eq!(out, "Label\tCount\n\na-much-longer-label\t2\n");
    }

    #[test]
    fn width_is_the_longest_cell_plus_one_rounded_to_eight() {
        // "12345678" is 8 long: width 9 → 16, so it gets 1 tab and "a" gets 2.
        let out = format(&lines(&["12345678\tx", "a\ty"]));
        assert_eq!(out, "12345678\tx\na\t\ty\n");
    }
}
