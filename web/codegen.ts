import type { CodegenConfig } from "@graphql-codegen/cli";

// Types for every GraphQL operation in src/, from the schema (schema.graphqls and graph/schema/). The output
// in src/gql is committed; `make test` regenerates it and fails on a diff.
const config: CodegenConfig = {
  schema: ["../schema.graphqls", "../graph/schema/*.graphqls"],
  documents: ["src/**/*.tsx", "src/**/*.ts", "!src/gql/**/*"],
  ignoreNoDocuments: true,
  generates: {
    "src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { Money: "string", Time: "string" },
      },
    },
  },
};

export default config;
