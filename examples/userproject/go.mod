module example.com/userproject

go 1.24.0

tool github.com/nngen/nngen/cmd/nngen

require github.com/nngen/nngen v0.0.0

require (
	github.com/dave/jennifer v1.7.1 // indirect
	github.com/klauspost/cpuid/v2 v2.4.2 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sys v0.41.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/nngen/nngen => ../..
