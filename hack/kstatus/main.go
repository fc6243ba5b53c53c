// Command kstatus prints the kstatus status (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) of
// each Kubernetes object of a JSON list read on stdin, as a JSON list of {status, message}. The
// cluster tests use it to check that the Performer's status follows kstatus' own rules
// (tests/cluster/test_performer_kstatus.py); hack/kstatus/build.sh builds it.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	// apimachinery's JSON decoding keeps integers int64, as the kstatus accessors expect.
	var objects []interface{}
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = utiljson.Unmarshal(data, &objects)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: stdin must be a JSON list of objects: %v\n", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(objects))
	for i, item := range objects {
		object, ok := item.(map[string]interface{})
		if !ok {
			fmt.Fprintf(os.Stderr, "kstatus: item %d is not an object\n", i)
			os.Exit(2)
		}
		computed, err := status.Compute(&unstructured.Unstructured{Object: object})
		if err != nil {
			fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
			os.Exit(1)
		}
		results = append(results, result{Status: computed.Status.String(), Message: computed.Message})
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}
