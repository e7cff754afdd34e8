// Package templates holds the text nngen writes that is not Go logic: the
// generated package's documentation and its test file.
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

//go:embed model_test.tmpl
var modelTest string

// ModelTest renders a generated package's model_test.go (golden forward
// check, allocation checks, benchmarks). Its data is a gen.TestData.
var ModelTest = template.Must(template.New("model_test").Parse(modelTest))
