module github.com/nngen/nngen

go 1.24.0

require (
	github.com/dave/jennifer v1.7.1
	go.yaml.in/yaml/v3 v3.0.6
)
