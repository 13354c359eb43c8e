-- Grants of cluster-global roles stay, like the roles themselves.
SELECT 1;
