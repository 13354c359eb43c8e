import { AuthForm } from "@/components/auth-form";

export default function SignUpPage() {
  return <AuthForm kind="sign-up" />;
}
