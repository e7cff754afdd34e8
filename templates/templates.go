// Package templates holds the text nngen writes that is not Go logic: the
// generated package's documentation.
package templates

import (
	_ "embed"
	"text/template"
)

//go:embed package_doc.tmpl
var packageDoc string

// PackageDoc renders the doc comment of a generated package. Its data is a
// gen.DocData.
var PackageDoc = template.Must(template.New("package_doc").Parse(packageDoc))
