module github.com/listdrop/listdrop

go 1.26.0

require go.etcd.io/bbolt v1.5.0

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
