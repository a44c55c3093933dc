//! Small helpers for the wording of configuration messages: "did you mean"
//! suggestions for misspelt names, and the article before a variable noun.
//!
//! Suggestions use the optimal string alignment distance (Levenshtein
//! distance plus transposition of two adjacent characters, so `alpah` is one
//! edit from `alpha`), compared case-insensitively. A name is suggested only
//! when it is close: at most 2 edits, and at most a third of the longer name.

/// The optimal string alignment distance between `a` and `b`: insertions,
/// deletions, substitutions and transpositions of adjacent characters, each
/// counting one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic programme: i − 2, i − 1 and i.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, when it is close enough to be what was
/// meant (see the module docs); the first of equally close candidates wins.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| (edit_distance(&word_lower, &c.to_lowercase()), c))
        .filter(|(d, c)| {
            let longer = word.chars().count().max(c.chars().count());
            *d <= 2 && *d * 3 <= longer
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"` for the closest candidate, or nothing.
pub(crate) fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match did_you_mean(word, candidates) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// "a" or "an" for the noun phrase `word`, by its sound: "an overload",
/// "an estimator", "a qos", "a utilization_threshold" (a "you" sound).
pub fn article(word: &str) -> &'static str {
    let lower = word.to_lowercase();
    // Words that start with a vowel letter but a consonant sound.
    const YOU_SOUND: &[&str] = &["uni", "use", "usu", "uti", "ura", "uri", "ure", "eu", "one"];
    match lower.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') if !YOU_SOUND.iter().any(|p| lower.starts_with(p)) => {
            "an"
        }
        _ => "a",
    }
}

/// `word` with its article: `with_article("overload")` is "an overload".
pub fn with_article(word: &str) -> String {
    format!("{} {word}", article(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_a_transposition_as_one_edit() {
        assert_eq!(edit_distance("alpha", "alpha"), 0);
        assert_eq!(edit_distance("alpah", "alpha"), 1);
        assert_eq!(edit_distance("slak", "slack"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn only_close_names_are_suggested() {
        let keys = ["alpha", "input", "mode", "output"];
        assert_eq!(did_you_mean("alpah", keys), Some("alpha"));
        assert_eq!(did_you_mean("inptu", keys), Some("input"));
        assert_eq!(did_you_mean("Input", keys), Some("input"));
        assert_eq!(did_you_mean("colour", keys), None);
        // One edit in a two-letter word is half of it: too far.
        assert_eq!(did_you_mean("mo", keys), None);
        assert_eq!(
            did_you_mean("alpha", keys),
            None,
            "itself is not a suggestion"
        );
    }

    #[test]
    fn the_article_follows_the_sound_of_the_word() {
        assert_eq!(with_article("overload"), "an overload");
        assert_eq!(with_article("estimator"), "an estimator");
        assert_eq!(with_article("ema"), "an ema");
        assert_eq!(with_article("slack"), "a slack");
        assert_eq!(with_article("qos"), "a qos");
        assert_eq!(
            with_article("utilization_threshold"),
            "a utilization_threshold"
        );
        assert_eq!(with_article("resource estimator"), "a resource estimator");
        assert_eq!(with_article("QoS controller"), "a QoS controller");
    }
}
