package tenancy

import (
	"strings"
	"testing"
)

// TestIsSlugMatchesRE checks the hand-written matcher against the SPEC's
// regular expression on every string over a small alphabet up to length 5,
// and on edge cases around the length bound.
func TestIsSlugMatchesRE(t *testing.T) {
	alphabet := []byte{'a', 'z', '0', '9', '-', '_', 'A', '.', ' '}
	var walk func(prefix []byte)
	walk = func(prefix []byte) {
		s := string(prefix)
		want := len(s) > 0 && len(s) <= MaxSlugLen && slugRE.MatchString(s)
		if got := isSlug(s); got != want {
			t.Fatalf("isSlug(%q) = %v, regexp says %v", s, got, want)
		}
		if len(prefix) == 5 {
			return
		}
		for _, c := range alphabet {
			walk(append(prefix, c))
		}
	}
	walk(nil)
	for _, s := range []string{strings.Repeat("a", MaxSlugLen), strings.Repeat("a", MaxSlugLen+1), strings.Repeat("ab-", 21), "é", "a\\x00", "a\nb"} {
		want := len(s) <= MaxSlugLen && slugRE.MatchString(s)
		if got := isSlug(s); got != want {
			t.Errorf("isSlug(%q) = %v, regexp says %v", s, got, want)
		}
	}
}
