//! Prints a markdown table.

pub fn print(title: &str, header: &[&str], rows: &[Vec<String>]) {
    println!("## {title}\n");
    println!("| {} |", header.join(" | "));
    println!("|{}", " --- |".repeat(header.len()));
    for row in rows {
        println!("| {} |", row.join(" | "));
    }
    println!();
}
