package gen

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// commentText makes a string that came from outside the spec's checked
// values (a spec's or a weights file's name) safe to write into a generated
// comment. A string of printable characters is returned as it is; any other
// (a newline, a carriage return, another control or format character, a
// line or paragraph separator, invalid UTF-8) is returned Go-quoted, so that
// it can neither end the comment nor reorder what a reader sees. Generated
// comments are line comments, so "*/" needs no escape.
func commentText(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsGraphic(r) {
			return strconv.QuoteToGraphic(s)
		}
	}
	return strings.Clone(s)
}
