// Command validate checks an operator-sdk bundle directory (bundle/: manifests/ and metadata/) with
// the validators of github.com/operator-framework/api, the library behind `operator-sdk bundle
// validate`: the default suite (ClusterServiceVersion, CRD, bundle) plus the optional OperatorHub,
// good-practice and deprecated-API checks. The operator-sdk module itself is not served by the Go
// module proxy, so validate.sh builds this instead. Every error and warning is printed;
// any of them makes the exit status 1.
//
//	validate BUNDLE_DIR
package main

import (
	"fmt"
	"os"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: validate BUNDLE_DIR")
		os.Exit(2)
	}
	bundle, err := manifests.GetBundleFromDir(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot load the bundle %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	validators := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.GoodPracticesValidator,
		validation.AlphaDeprecatedAPIsValidator,
	)
	// The optional validators read their settings from this map (k8s-version: the oldest supported
	// Kubernetes release, which the CRD's CEL rules need).
	objects := append(bundle.ObjectsToValidate(), map[string]string{"k8s-version": "1.32"})
	problems := 0
	for _, result := range validators.Validate(objects...) {
		for _, e := range result.Errors {
			problems++
			level := "warning"
			if e.Level == errors.LevelError {
				level = "error"
			}
			fmt.Printf("%s: %s: %s\n", level, result.Name, e.Error())
		}
	}
	if problems > 0 {
		os.Exit(1)
	}
	fmt.Printf("bundle %s is valid\n", bundle.Name)
}
