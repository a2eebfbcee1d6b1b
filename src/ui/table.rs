//! Rows of cells as aligned columns, for text reports.

/// Rows of cells as aligned columns, each line starting with `indent`; no
/// line ends in spaces.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            let length = cell.chars().count();
            match widths.get_mut(index) {
                Some(width) => *width = (*width).max(length),
                None => widths.push(length),
            }
        }
    }
    let mut text = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_lines_not_padded() {
        let rows = vec![
            vec!["a".to_string(), "bb".to_string(), "c".to_string()],
            vec!["aaa".to_string(), "b".to_string(), "".to_string()],
        ];
        assert_eq!(table(&rows, "  "), "  a    bb  c\n  aaa  b\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let rows = vec![
            vec!["é".to_string(), "x".to_string()],
            vec!["a".to_string(), "y".to_string()],
        ];
        assert_eq!(table(&rows, ""), "é  x\na  y\n");
    }
}
