module github.com/listdrop/listdrop

go 1.26.0

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/kardianos/service v1.2.4
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.50.0
	gopkg.in/natefinch/lumberjack.v2 v2.2.1
	gopkg.in/yaml.v3 v3.0.1
)
