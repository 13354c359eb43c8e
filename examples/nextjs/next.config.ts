import type { NextConfig } from "next";

const config: NextConfig = {
  // No X-Powered-By; the app's pages and /api/auth/* only.
  poweredByHeader: false,
  // pg is a Node package with optional native parts: load it at run time.
  serverExternalPackages: ["pg"],
};

export default config;
