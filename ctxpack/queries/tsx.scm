; ctxpack tree-sitter query for TSX (.tsx): appended to typescript.scm (see languages.py).

; JSX components (capitalised element names) are calls of the component
(jsx_opening_element
  name: (identifier) @reference.call
  (#match? @reference.call "^[A-Z]"))

(jsx_self_closing_element
  name: (identifier) @reference.call
  (#match? @reference.call "^[A-Z]"))

(jsx_opening_element
  name: (member_expression
    property: (property_identifier) @reference.call))

(jsx_self_closing_element
  name: (member_expression
    property: (property_identifier) @reference.call))
