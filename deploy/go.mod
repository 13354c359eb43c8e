module github.com/gatehouse-dev/gatehouse/deploy

go 1.26.8

require (
	github.com/blang/semver/v4 v4.0.0 // indirect
	github.com/compose-spec/compose-go/v2 v2.16.2 // indirect
	github.com/gatehouse-dev/gatehouse/gateway v0.0.0
	github.com/gatehouse-dev/gatehouse/pkg v0.0.0
	github.com/gatehouse-dev/gatehouse/tasks-service v0.0.0
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	k8s.io/api v0.37.2 // indirect
	k8s.io/apimachinery v0.37.2 // indirect
	sigs.k8s.io/kustomize/api v0.21.2 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)

replace github.com/gatehouse-dev/gatehouse/pkg => ../pkg

replace github.com/gatehouse-dev/gatehouse/gateway => ../gateway

replace github.com/gatehouse-dev/gatehouse/tasks-service => ../tasks-service
