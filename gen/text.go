package gen

import (
	"fmt"
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

// checkStrings is the one gate for strings that come from outside nngen and
// reach a generated file, whoever built the network (Check, or a caller
// assembling a Net by hand). The package name, layer keys, parameter keys
// and fused activations must be what Check produces (identifiers, indices
// and dotted paths of them, the activation names), so that they are safe anywhere in Go source,
// comments included: jennifer writes a comment holding a newline as /* … */,
// which a "*/" would end. Free text, the spec's and the weights' file names,
// comes back through commentText. Keys also reach string literals, which
// jennifer quotes.
func checkStrings(n *Net, pkg, file, weights string) (safeFile, safeWeights string, err error) {
	if err := CheckPackageName(n.Name); err != nil {
		return "", "", fmt.Errorf("network name %v", err)
	}
	if pkg != "" {
		if err := CheckPackageName(pkg); err != nil {
			return "", "", fmt.Errorf("package name %v", err)
		}
	}
	for i, l := range n.Layers {
		if !validLayerName(l.Key) {
			return "", "", fmt.Errorf("%s: layer %d has the key %q; a key is an identifier, the layer's index, or a module path of them (features.0)", n.Name, i, l.Key)
		}
		if l.act == nil && l.Act != "" || l.act != nil && l.act.kind() != l.Act {
			return "", "", fmt.Errorf("%s: layer %s has the activation %q, not the op fused into it", n.Name, l.Key, l.Act)
		}
		for _, p := range l.Params {
			if !tensorRoles[p.Role] || p.Key != l.Key+"."+p.Role {
				return "", "", fmt.Errorf("%s: layer %s has a parameter keyed %q; its keys are %s.ROLE, ROLE one of weight, bias, running_mean, running_var", n.Name, l.Key, p.Key, l.Key)
			}
		}
	}
	for _, p := range append(n.Params, n.Counts...) {
		if i := strings.LastIndexByte(p.Key, '.'); i < 0 || !validLayerName(p.Key[:i]) || !tensorRoles[p.Key[i+1:]] {
			return "", "", fmt.Errorf("%s: a tensor is keyed %q, not layer.weight, layer.bias or a batch norm buffer", n.Name, p.Key)
		}
	}
	return commentText(file), commentText(weights), nil
}

// tensorRoles are the key suffixes of a layer's tensors.
var tensorRoles = map[string]bool{"weight": true, "bias": true, "running_mean": true, "running_var": true, "num_batches_tracked": true}

// isIndex reports whether s is a layer index as Check writes one: decimal
// digits without a leading zero.
func isIndex(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
